"""The ``${...}`` expression tree and how it evaluates, with Workflows' typing rules.

Expressions are parsed once, at load time, by :mod:`.parser` into these immutable
nodes, so evaluation is a walk that many threads may share. The rules that
differ from Python's live here: ``/`` always yields a double, ``//`` and ``%``
truncate toward zero, ``"a" + 1`` is a TypeError, ``and``/``or`` take booleans
only (and short-circuit), and a missing key is a KeyError-tagged error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import (
    TAG_INDEX,
    TAG_KEY,
    TAG_TYPE,
    TAG_ZERO_DIVISION,
    WorkflowError,
    runtime_error,
)
from .values import is_number, type_name, values_equal

__all__ = [
    "Attr",
    "Binary",
    "Bindings",
    "Call",
    "Index",
    "ListExpr",
    "Literal",
    "Logical",
    "MapExpr",
    "Node",
    "Unary",
    "Var",
    "get_item",
]


class Bindings(Protocol):
    """What evaluation needs from the running execution."""

    def lookup(self, name: str) -> Any:
        """A variable's value; raises a KeyError-tagged WorkflowError when unset."""
        ...

    def call_function(self, name: str, args: list[Any]) -> Any:
        """Run a built-in function (``len``, ``text.split``, ``sys.get_env``...)."""
        ...


# -- nodes -----------------------------------------------------------------------------


class Node:
    """An expression tree node; immutable and safe to evaluate from many threads."""

    def evaluate(self, env: Bindings) -> Any:
        raise NotImplementedError

    def functions(self) -> set[str]:
        """Every function name this expression calls (the loader checks they exist)."""
        found: set[str] = set()
        for child in self._children():
            found |= child.functions()
        return found

    def _children(self) -> Sequence[Node]:
        return ()


@dataclass(frozen=True)
class Literal(Node):
    value: Any

    def evaluate(self, env: Bindings) -> Any:
        return self.value


@dataclass(frozen=True)
class ListExpr(Node):
    items: tuple[Node, ...]

    def evaluate(self, env: Bindings) -> Any:
        return [item.evaluate(env) for item in self.items]

    def _children(self) -> Sequence[Node]:
        return self.items


@dataclass(frozen=True)
class MapExpr(Node):
    entries: tuple[tuple[str, Node], ...]

    def evaluate(self, env: Bindings) -> Any:
        return {key: value.evaluate(env) for key, value in self.entries}

    def _children(self) -> Sequence[Node]:
        return tuple(value for _, value in self.entries)


@dataclass(frozen=True)
class Var(Node):
    name: str

    def evaluate(self, env: Bindings) -> Any:
        return env.lookup(self.name)


@dataclass(frozen=True)
class Attr(Node):
    target: Node
    name: str

    def evaluate(self, env: Bindings) -> Any:
        return get_item(self.target.evaluate(env), self.name, dotted=True)

    def _children(self) -> Sequence[Node]:
        return (self.target,)


@dataclass(frozen=True)
class Index(Node):
    target: Node
    key: Node

    def evaluate(self, env: Bindings) -> Any:
        return get_item(self.target.evaluate(env), self.key.evaluate(env))

    def _children(self) -> Sequence[Node]:
        return (self.target, self.key)


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]

    def evaluate(self, env: Bindings) -> Any:
        return env.call_function(self.name, [arg.evaluate(env) for arg in self.args])

    def functions(self) -> set[str]:
        return {self.name} | super().functions()

    def _children(self) -> Sequence[Node]:
        return self.args


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node

    def evaluate(self, env: Bindings) -> Any:
        value = self.operand.evaluate(env)
        if self.op == "not":
            if not isinstance(value, bool):
                raise _type_error(f"'not' needs a boolean, got {type_name(value)}")
            return not value
        if not is_number(value):
            raise _type_error(f"unary '-' needs a number, got {type_name(value)}")
        return -value

    def _children(self) -> Sequence[Node]:
        return (self.operand,)


@dataclass(frozen=True)
class Logical(Node):
    op: str  # and | or
    left: Node
    right: Node

    def evaluate(self, env: Bindings) -> Any:
        left = _boolean(self.op, self.left.evaluate(env))
        if (self.op == "and" and not left) or (self.op == "or" and left):
            return left  # short-circuit: `"k" in m and m.k == 1` never touches a missing m.k
        return _boolean(self.op, self.right.evaluate(env))

    def _children(self) -> Sequence[Node]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node

    def evaluate(self, env: Bindings) -> Any:
        return _BINARY[self.op](self.left.evaluate(env), self.right.evaluate(env))

    def _children(self) -> Sequence[Node]:
        return (self.left, self.right)


def get_item(container: Any, key: Any, *, dotted: bool = False) -> Any:
    """``container.key`` / ``container[key]`` with Workflows' KeyError/IndexError/TypeError."""
    if isinstance(container, dict):
        if not isinstance(key, str):
            raise _type_error(f"map keys are strings, got {type_name(key)} {key!r}")
        if key not in container:
            raise runtime_error(TAG_KEY, f"key not found: {key}")
        return container[key]
    if isinstance(container, list) and not dotted:
        if isinstance(key, bool) or not isinstance(key, int):
            raise _type_error(f"list indexes are integers, got {type_name(key)} {key!r}")
        if not 0 <= key < len(container):
            raise runtime_error(
                TAG_INDEX, f"list index {key} out of range (length {len(container)})"
            )
        return container[key]
    what = "." + str(key) if dotted else f"[{key!r}]"
    raise _type_error(f"cannot read {what} of a {type_name(container)}")


# -- operators -------------------------------------------------------------------------


def _type_error(message: str) -> WorkflowError:
    return runtime_error(TAG_TYPE, message)


def _boolean(op: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _type_error(f"'{op}' needs booleans, got {type_name(value)}")
    return value


def _numbers(op: str, a: Any, b: Any) -> None:
    if not (is_number(a) and is_number(b)):
        raise _type_error(f"'{op}' needs numbers, got {type_name(a)} and {type_name(b)}")


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if is_number(a) and is_number(b):
        return a + b
    raise _type_error(
        f"'+' needs two numbers or two strings, got {type_name(a)} and {type_name(b)}"
        + ("; convert with string()" if isinstance(a, str) or isinstance(b, str) else "")
    )


def _arith(op: str, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        _numbers(op, a, b)
        return fn(a, b)

    return apply


def _divide(op: str, a: Any, b: Any) -> Any:
    _numbers(op, a, b)
    if b == 0:
        raise runtime_error(TAG_ZERO_DIVISION, f"division by zero in '{op}'")
    if op == "/":
        return float(a) / float(b)  # `/` always yields a double in Workflows
    if isinstance(a, float) or isinstance(b, float):
        quotient = math.trunc(a / b)
        return float(quotient) if op == "//" else math.fmod(a, b)
    # Integers truncate toward zero, so a == (a // b) * b + a % b and the remainder
    # takes the dividend's sign (as in C, Go and Java, not Python's floor).
    quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
    return quotient if op == "//" else a - b * quotient


def _order(op: str, fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def apply(a: Any, b: Any) -> bool:
        if (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return fn(a, b)
        raise _type_error(f"cannot compare {type_name(a)} {op} {type_name(b)}")

    return apply


def _contains(item: Any, container: Any) -> bool:
    if isinstance(container, list):
        return any(values_equal(item, x) for x in container)
    if isinstance(container, dict):
        if not isinstance(item, str):
            raise _type_error(f"'in' on a map needs a string key, got {type_name(item)}")
        return item in container
    raise _type_error(f"'in' needs a list or a map on the right, got {type_name(container)}")


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add,
    "-": _arith("-", lambda a, b: a - b),
    "*": _arith("*", lambda a, b: a * b),
    "/": lambda a, b: _divide("/", a, b),
    "//": lambda a, b: _divide("//", a, b),
    "%": lambda a, b: _divide("%", a, b),
    "==": values_equal,
    "!=": lambda a, b: not values_equal(a, b),
    "<": _order("<", lambda a, b: a < b),
    "<=": _order("<=", lambda a, b: a <= b),
    ">": _order(">", lambda a, b: a > b),
    ">=": _order(">=", lambda a, b: a >= b),
    "in": _contains,
}
