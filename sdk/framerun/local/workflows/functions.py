"""The standard-library functions expressions may call, with Workflows' error tags.

Only what the emulator's subset needs: ``len, keys, default, int, double, string,
get_type, map.get, list.concat, json.decode, json.encode_to_string, text.to_upper,
text.to_lower, text.split, text.replace_all, sys.get_env, sys.now``. Anything else
is refused when the workflow loads (:data:`FUNCTIONS` is the allow-list), so a
call never fails for the first time deep inside a long render.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import TAG_KEY, TAG_TYPE, TAG_VALUE, runtime_error
from .values import is_number, to_json, type_name

__all__ = ["FUNCTIONS", "Function", "SystemAccess", "call_function"]


class SystemAccess(Protocol):
    """What ``sys.*`` functions read from the execution."""

    @property
    def environment(self) -> Mapping[str, str]: ...

    def now(self) -> float: ...


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    impl: Callable[[SystemAccess, list[Any]], Any]

    def arity(self) -> str:
        if self.min_args == self.max_args:
            return f"{self.min_args} argument{'s' if self.min_args != 1 else ''}"
        return f"{self.min_args} to {self.max_args} arguments"


def call_function(name: str, args: list[Any], system: SystemAccess) -> Any:
    function = FUNCTIONS.get(name)
    if function is None:  # the loader refuses these; reaching here is an emulator bug
        raise runtime_error(TAG_KEY, f"unknown function {name}()")
    if not function.min_args <= len(args) <= function.max_args:
        raise runtime_error(TAG_TYPE, f"{name}() takes {function.arity()}, got {len(args)}")
    return function.impl(system, args)


def _type_error(name: str, expected: str, value: Any) -> Exception:
    return runtime_error(TAG_TYPE, f"{name}() expects {expected}, got {type_name(value)}")


def _string_arg(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _type_error(name, "a string", value)
    return value


def _len(_: SystemAccess, args: list[Any]) -> int:
    (value,) = args
    if isinstance(value, str | list | dict):
        return len(value)
    raise _type_error("len", "a string, list or map", value)


def _keys(_: SystemAccess, args: list[Any]) -> list[str]:
    (value,) = args
    if not isinstance(value, dict):
        raise _type_error("keys", "a map", value)
    return list(value)


def _default(_: SystemAccess, args: list[Any]) -> Any:
    value, fallback = args
    return fallback if value is None else value


def _int(_: SystemAccess, args: list[Any]) -> int:
    (value,) = args
    if isinstance(value, bool):
        raise _type_error("int", "a number or a string", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)  # truncates toward zero
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                return int(float(value.strip()))
            except ValueError:
                raise runtime_error(TAG_VALUE, f"int(): {value!r} is not a number") from None
    raise _type_error("int", "a number or a string", value)


def _double(_: SystemAccess, args: list[Any]) -> float:
    (value,) = args
    if is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise runtime_error(TAG_VALUE, f"double(): {value!r} is not a number") from None
    raise _type_error("double", "a number or a string", value)


def _string(_: SystemAccess, args: list[Any]) -> str:
    (value,) = args
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise _type_error("string", "a string, number or boolean", value)


def _get_type(_: SystemAccess, args: list[Any]) -> str:
    return type_name(args[0])


def _map_get(_: SystemAccess, args: list[Any]) -> Any:
    value, key = args
    keys = key if isinstance(key, list) else [key]
    for k in keys:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _type_error("map.get", "a map", value)
        if not isinstance(k, str):
            raise _type_error("map.get", "string keys", k)
        value = value.get(k)
    return value


def _list_concat(_: SystemAccess, args: list[Any]) -> list[Any]:
    items, value = args
    if not isinstance(items, list):
        raise _type_error("list.concat", "a list", items)
    return [*items, value]


def _json_decode(_: SystemAccess, args: list[Any]) -> Any:
    text = _string_arg("json.decode", args[0])
    try:
        return json.loads(text)
    except ValueError as exc:
        raise runtime_error(TAG_VALUE, f"json.decode(): invalid JSON: {exc}") from None


def _json_encode_to_string(_: SystemAccess, args: list[Any]) -> str:
    indent = args[1] if len(args) > 1 else None
    if indent is not None and (not isinstance(indent, int) or isinstance(indent, bool)):
        raise _type_error("json.encode_to_string", "an integer indent", indent)
    return to_json(args[0], indent=indent)


def _text_to_upper(_: SystemAccess, args: list[Any]) -> str:
    return _string_arg("text.to_upper", args[0]).upper()


def _text_to_lower(_: SystemAccess, args: list[Any]) -> str:
    return _string_arg("text.to_lower", args[0]).lower()


def _text_split(_: SystemAccess, args: list[Any]) -> list[str]:
    source = _string_arg("text.split", args[0])
    separator = _string_arg("text.split", args[1])
    return list(source) if separator == "" else source.split(separator)


def _text_replace_all(_: SystemAccess, args: list[Any]) -> str:
    source, old, new = (_string_arg("text.replace_all", a) for a in args)
    if old == "":
        raise runtime_error(TAG_VALUE, "text.replace_all(): the substring to replace is empty")
    return source.replace(old, new)


def _sys_get_env(system: SystemAccess, args: list[Any]) -> Any:
    name = _string_arg("sys.get_env", args[0])
    fallback = args[1] if len(args) > 1 else None
    return system.environment.get(name, fallback)


def _sys_now(system: SystemAccess, _: list[Any]) -> float:
    return system.now()


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("len", 1, 1, _len),
        Function("keys", 1, 1, _keys),
        Function("default", 2, 2, _default),
        Function("int", 1, 1, _int),
        Function("double", 1, 1, _double),
        Function("string", 1, 1, _string),
        Function("get_type", 1, 1, _get_type),
        Function("map.get", 2, 2, _map_get),
        Function("list.concat", 2, 2, _list_concat),
        Function("json.decode", 1, 1, _json_decode),
        Function("json.encode_to_string", 1, 2, _json_encode_to_string),
        Function("text.to_upper", 1, 1, _text_to_upper),
        Function("text.to_lower", 1, 1, _text_to_lower),
        Function("text.split", 2, 2, _text_split),
        Function("text.replace_all", 3, 3, _text_replace_all),
        Function("sys.get_env", 1, 2, _sys_get_env),
        Function("sys.now", 0, 0, _sys_now),
    )
}
