"""Workflows values in Python, and the few rules that differ from Python's own.

A value is ``None`` (null), ``bool``, ``int``, ``float`` (double), ``str``, ``list``
or ``dict`` with string keys: exactly what JSON carries. Python's rules need
three corrections, kept here so every module applies them the same way:

* ``bool`` is not a number (Python says ``True == 1``; Workflows does not);
* values are never mutated in place once stored (assignments copy the path they
  change), so sharing a reference is always safe;
* sizes are measured as compact JSON, the way the 512 KB memory limit counts them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import TAG_TYPE, TAG_VALUE, runtime_error

__all__ = [
    "is_number",
    "json_size",
    "to_json",
    "type_name",
    "values_equal",
]


def type_name(value: Any) -> str:
    """What ``get_type`` returns: string, integer, double, boolean, null, list or map."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    raise TypeError(f"not a Workflows value: {type(value).__name__}")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def values_equal(a: Any, b: Any) -> bool:
    """Workflows ``==``: numbers compare by value across int/double, nothing else mixes."""
    if is_number(a) and is_number(b):
        return bool(a == b)
    if type_name(a) != type_name(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def to_json(value: Any, *, indent: int | None = None) -> str:
    """Compact JSON as Workflows writes it (results, payloads, ``json.encode_to_string``)."""
    try:
        if indent is None:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise runtime_error(TAG_VALUE, f"cannot encode as JSON: {exc}") from None
    except TypeError as exc:
        raise runtime_error(TAG_TYPE, f"cannot encode as JSON: {exc}") from None


def json_size(value: Any) -> int:
    """Bytes of compact UTF-8 JSON: the unit of the memory and argument limits."""
    if isinstance(value, float) and not math.isfinite(value):
        return 8
    return len(to_json(value).encode("utf-8"))
