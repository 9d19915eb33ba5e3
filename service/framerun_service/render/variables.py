"""Composition variables: typed declarations on ``<html>`` and the values a render supplies.

The declaration format is HyperFrames': ``data-composition-variables`` holds a JSON
array of ``{"id", "type", "label", "default", "options"?}``; values arrive as a JSON
object keyed by id. Pure functions, no IO.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from framerun_service.core.errors import InvalidCompositionError, VariablesInvalidError, setting

SUPPORTED_TYPES = ("string", "number", "color", "boolean", "enum", "font", "image")
MAX_VARIABLES_BYTES = 512 * 1024

_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_FUNC_COLOR = re.compile(r"^(?:rgb|rgba|hsl|hsla|hwb|lab|lch|oklab|oklch)\([0-9a-zA-Z.,%/+\- ]*\)$")
_NAMED_COLOR = re.compile(r"^[a-zA-Z]{3,20}$")


@dataclass(frozen=True)
class VariableDeclaration:
    id: str
    type: str
    default: Any
    label: str = ""
    options: tuple[str, ...] = ()

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has this declaration's type."""
        if self.type == "string":
            return isinstance(value, str)
        if self.type == "number":
            return (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
        if self.type == "boolean":
            return isinstance(value, bool)
        if self.type == "color":
            return isinstance(value, str) and is_css_color(value)
        if self.type == "enum":
            return isinstance(value, str) and value in self.options
        # HyperFrames 0.8: an image is a URL or {"url": ...}; a font is a family name or
        # {"name": ..., "source": ...}.
        if self.type == "image":
            return isinstance(value, str) or _has_str_fields(value, "url")
        if self.type == "font":
            return isinstance(value, str) or _has_str_fields(value, "name", "source")
        return False


def _has_str_fields(value: Any, *names: str) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(n), str) for n in names)


def is_css_color(value: str) -> bool:
    """A conservative CSS colour check: hex, colour functions, or a keyword."""
    v = value.strip()
    return bool(_HEX_COLOR.match(v) or _FUNC_COLOR.match(v) or _NAMED_COLOR.match(v))


def parse_declarations(raw: str | None) -> tuple[tuple[VariableDeclaration, ...], list[str]]:
    """Parse ``data-composition-variables``; unsupported types are dropped with a warning."""
    if raw is None or not raw.strip():
        return (), []
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidCompositionError(
            f"data-composition-variables is not valid JSON ({exc.msg} at char {exc.pos}); "
            "it must be a JSON array of {id, type, label, default}"
        ) from None
    if not isinstance(items, list):
        raise InvalidCompositionError(
            "data-composition-variables must be a JSON array of {id, type, label, default}"
        )
    decls: list[VariableDeclaration] = []
    warnings: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise InvalidCompositionError(
                f"data-composition-variables[{i}] needs a non-empty string 'id'"
            )
        vtype = item.get("type")
        if vtype not in SUPPORTED_TYPES:
            warnings.append(
                f"variable '{item['id']}' has unsupported type {vtype!r} and is ignored "
                f"(supported: {', '.join(SUPPORTED_TYPES)})"
            )
            continue
        options = tuple(_option_values(item)) if vtype == "enum" else ()
        decl = VariableDeclaration(
            id=item["id"],
            type=vtype,
            default=item.get("default"),
            label=str(item.get("label", "")),
            options=options,
        )
        if decl.default is not None and not decl.accepts(decl.default):
            raise InvalidCompositionError(
                f"variable '{decl.id}' declares default {decl.default!r}, "
                f"which is not a valid {vtype}"
            )
        decls.append(decl)
    return tuple(decls), warnings


def _option_values(item: Mapping[str, Any]) -> list[str]:
    values = []
    for opt in item.get("options") or []:
        if isinstance(opt, dict) and isinstance(opt.get("value"), str):
            values.append(opt["value"])
        elif isinstance(opt, str):
            values.append(opt)
    if not values:
        raise InvalidCompositionError(
            f'enum variable \'{item["id"]}\' needs options: [{{"value": ..., "label": ...}}]'
        )
    return values


def parse_values_json(text: str, *, source: str) -> dict[str, Any]:
    """Parse a ``--variables`` JSON object; ``source`` names where it came from."""
    if len(text.encode()) > MAX_VARIABLES_BYTES:
        raise VariablesInvalidError(
            f"variables from {source} exceed {MAX_VARIABLES_BYTES // 1024} KiB; "
            "pass large data as a site file instead"
        )
    try:
        values = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise VariablesInvalidError(
            f"variables from {source} are not valid JSON ({exc.msg} at line {exc.lineno} "
            f'column {exc.colno}); pass an object such as \'{{"title": "Hi"}}\''
        ) from None
    except _NonJsonConstantError as exc:
        raise VariablesInvalidError(
            f"variables from {source} contain {exc}, which is not valid JSON; "
            "use a finite number or null"
        ) from None
    if not isinstance(values, dict):
        raise VariablesInvalidError(
            f"variables from {source} must be a JSON object keyed by variable id, "
            f"not {type(values).__name__}"
        )
    return values


class _NonJsonConstantError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    # Python's json takes NaN and Infinity; strict parsers (Workflows, browsers'
    # JSON.parse) do not, and the values travel inside the plan as JSON.
    raise _NonJsonConstantError(name)


def resolve_variables(
    declarations: tuple[VariableDeclaration, ...],
    values: Mapping[str, Any],
    *,
    strict: bool,
) -> tuple[dict[str, Any], list[str]]:
    """Merge supplied values over declared defaults.

    Strict mode refuses unknown ids and mistyped values; lenient mode keeps unknown
    ids (the page may read them) and replaces a mistyped value by its default,
    returning a warning for each.
    """
    by_id = {d.id: d for d in declarations}
    resolved = {d.id: d.default for d in declarations}
    warnings: list[str] = []
    for key, value in values.items():
        decl = by_id.get(key)
        if decl is None:
            if strict:
                known = ", ".join(sorted(by_id)) or "none"
                raise VariablesInvalidError(
                    f"unknown variable '{key}' (declared: {known}); "
                    f"fix the name or drop {setting('strict_variables')}"
                )
            warnings.append(f"variable '{key}' is not declared by the composition")
            resolved[key] = value
        elif decl.accepts(value):
            resolved[key] = value
        else:
            expected = decl.type if decl.type != "enum" else f"one of {list(decl.options)}"
            msg = f"variable '{key}' must be {expected}, got {value!r}"
            if strict:
                raise VariablesInvalidError(
                    f"{msg}; fix the value or drop {setting('strict_variables')}"
                )
            warnings.append(f"{msg}; using the default {decl.default!r}")
    return resolved, warnings
