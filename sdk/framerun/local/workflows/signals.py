"""Control flow that is not an error: ``return``, ``next``, ``break``, ``continue``.

These travel as exceptions so nested blocks unwind naturally, but they are not
:class:`~.errors.WorkflowError`, so no ``try`` step ever catches them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BreakLoop", "ContinueLoop", "Jump", "ReturnValue"]


class ReturnValue(Exception):
    """``return`` (or ``next: end``): leaves the routine with ``value``."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


class Jump(Exception):
    """``next: step`` to a step in an enclosing block."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class BreakLoop(Exception):
    """``next: break``: leaves the innermost ``for`` loop."""


class ContinueLoop(Exception):
    """``next: continue``: ends this iteration (of a ``for`` or a parallel ``for``)."""
