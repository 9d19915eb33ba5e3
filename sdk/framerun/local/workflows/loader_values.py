"""Values in workflow steps → model templates; and the errors all of the loader raises.

A value in a step (an argument, an assigned value, a condition, a returned or
raised value) is a constant, an ``${expression}``, or a list or map of values;
the left side of an assignment is a name or a path such as ``a.b`` or ``a["k"]``.
:class:`ValueLoader` checks and converts them. It also keeps the routine and step
being read, so that every error, wherever in the loader it is raised, names them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from .errors import UnsupportedSyntaxError, WorkflowSyntaxError
from .expressions import Attr, Index, Literal, Node, Var
from .functions import FUNCTIONS
from .model import Const, ExprTemplate, ListTemplate, MapTemplate, Target, Template
from .parser import ExpressionError, is_expression, parse_expression, strip_expression

MAX_ASSIGNMENTS = 50
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ValueLoader:
    """Where the loader is (routine and step), its errors, and the values of steps.

    The base of the loader: :class:`.loader_calls.CallLoader` adds calls and retries
    on top, and :class:`.loader._Loader` the structure (routines, steps, control flow).
    """

    def __init__(self) -> None:
        self.routine = ""
        self.step = ""

    # -- errors -------------------------------------------------------------------------

    def _syntax(self, message: str) -> NoReturn:
        """Raise what Cloud Workflows itself would refuse, naming routine and step."""
        raise WorkflowSyntaxError(message, routine=self.routine or None, step=self.step or None)

    def _unsupported(self, message: str) -> NoReturn:
        """Raise for valid Workflows the emulator does not run, rather than skip it."""
        raise UnsupportedSyntaxError(
            f"{message} is not supported by the local emulator",
            routine=self.routine or None,
            step=self.step or None,
        )

    @contextmanager
    def _at(self, step: str) -> Iterator[None]:
        """Errors inside name ``step``; the enclosing step is named again after."""
        outer, self.step = self.step, step
        try:
            yield
        finally:
            self.step = outer

    # -- values -------------------------------------------------------------------------

    def _template(self, value: Any) -> Template:
        if isinstance(value, str):
            if is_expression(value):
                return ExprTemplate(self._expression(strip_expression(value)), value)
            return Const(value)
        if value is None or isinstance(value, bool | int | float):
            return Const(value)
        if isinstance(value, list):
            items = tuple(self._template(v) for v in value)
            if all(isinstance(i, Const) for i in items):
                return Const([i.value for i in items if isinstance(i, Const)])
            return ListTemplate(items)
        if isinstance(value, dict):
            entries = []
            for key, item in value.items():
                if not isinstance(key, str):
                    self._syntax(f"map keys are strings; quote {key!r}")
                entries.append((key, self._template(item)))
            return MapTemplate(tuple(entries))
        self._syntax(f"{value!r} is not a Workflows value")

    def _map(self, value: Any, what: str) -> MapTemplate:
        template = self._template({} if value is None else value)
        if not isinstance(template, MapTemplate):
            self._syntax(f"{what} must be a map")
        return template

    def _expression(self, text: str) -> Node:
        try:
            node = parse_expression(text)
        except ExpressionError as exc:
            self._syntax(str(exc))
        for name in sorted(node.functions()):
            if name not in FUNCTIONS:
                self._unsupported(f"function '{name}()'")
        return node

    def _target(self, text: Any) -> Target:
        if not isinstance(text, str):
            self._syntax(f"cannot assign to {text!r}")
        node = self._expression(text)
        path: list[Node] = []
        while isinstance(node, Attr | Index):
            path.append(Literal(node.name) if isinstance(node, Attr) else node.key)
            node = node.target
        if not isinstance(node, Var):
            self._syntax(f'cannot assign to {text!r}: write a name or a path like a.b or a["k"]')
        return Target(node.name, tuple(reversed(path)), text)

    def _assignments(self, raw: Any) -> tuple[tuple[Target, Template], ...]:
        if not isinstance(raw, list) or not raw:
            self._syntax("'assign' is a list of one-key maps {target: value}")
        if len(raw) > MAX_ASSIGNMENTS:
            self._syntax(f"at most {MAX_ASSIGNMENTS} assignments per step; split the step")
        items = []
        for item in raw:
            if not isinstance(item, dict) or len(item) != 1:
                self._syntax(f"each assignment is a one-key map, got {item!r}")
            ((target, value),) = item.items()
            items.append((self._target(target), self._template(value)))
        return tuple(items)

    def _reference(self, raw: Any, what: str) -> str:
        """``${name}`` or ``${http.default_retry}``: a reference, not an evaluated value."""
        if not is_expression(raw):
            self._syntax(f"{what} is a reference such as ${{my_predicate}}, got {raw!r}")
        name = strip_expression(raw).strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name):
            self._syntax(f"{what} must name a subworkflow or built-in, got {raw!r}")
        return name
