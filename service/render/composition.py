"""Load a composition: the entry HTML's root attributes, validated, with overrides applied.

A project is a folder with an entry HTML file (default ``index.html``). Its root
element — ``<body>`` when it carries the attributes, else the first element in
``<body>`` that does (HyperFrames' rule) — declares ``data-width``, ``data-height``,
``data-fps`` and ``data-duration`` (seconds). CLI flags override any of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

from framerun_service.errors import (
    CompositionNotFoundError,
    InvalidCompositionError,
    InvalidConfigError,
)
from framerun_service.render.variables import (
    VariableDeclaration,
    parse_declarations,
    resolve_variables,
)

MIN_SIZE, MAX_SIZE = 2, 7680
MAX_FPS = 240
MAX_DURATION_S = 4 * 3600
ROOT_ATTRS = ("data-width", "data-height", "data-fps", "data-duration")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_T = TypeVar("_T")


@dataclass(frozen=True)
class Overrides:
    """Values from the command line (or an API request) that beat the root attributes."""

    width: Any = None
    height: Any = None
    fps: Any = None
    duration: Any = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    strict_variables: bool = False


@dataclass(frozen=True)
class Composition:
    project_dir: Path
    entry: str
    width: int
    height: int
    fps: Fraction
    duration: Fraction
    variables: dict[str, Any]
    declarations: tuple[VariableDeclaration, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def total_frames(self) -> int:
        """round(duration × fps), the frame count of the full video."""
        return max(1, round(self.duration * self.fps))

    @property
    def entry_path(self) -> Path:
        return self.project_dir / self.entry


class _RootFinder(HTMLParser):
    """Collects the <html> attributes and the composition root's attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.html_attrs: dict[str, str] = {}
        self.root_attrs: dict[str, str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: (v or "") for k, v in attrs}
        if tag == "html":
            self.html_attrs = values
        if self.root_attrs is not None:
            return
        if tag == "body":
            self._in_body = True
            # <body> is the root only when it carries a size attribute itself: a bare
            # data-composition-id on <body> must not hide the root element inside it.
            if any(a in values for a in ROOT_ATTRS):
                self.root_attrs = values
            return
        is_root = "data-composition-id" in values or any(a in values for a in ROOT_ATTRS)
        if self._in_body and is_root:
            self.root_attrs = values


def load_composition(
    project_dir: str | Path, *, entry: str = "index.html", overrides: Overrides | None = None
) -> Composition:
    """Read and validate a composition; raises typed errors that name the fix."""
    overrides = overrides or Overrides()
    project = Path(project_dir)
    if not project.is_dir():
        raise CompositionNotFoundError(f"project folder '{project}' does not exist")
    entry_path = (project / entry).resolve()
    if not entry_path.is_relative_to(project.resolve()):
        raise InvalidCompositionError(f"entry '{entry}' is outside the project folder")
    if not entry_path.is_file():
        raise CompositionNotFoundError(
            f"entry file '{entry}' not found in '{project}'; pass --composition FILE"
        )
    finder = _RootFinder()
    try:
        finder.feed(entry_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InvalidCompositionError(f"'{entry}' is not UTF-8 text") from None
    root = finder.root_attrs or {}

    def pick(name: str, override: Any, parse: Callable[[Any], _T]) -> _T:
        # A bad flag is bad config; a bad attribute is a broken composition, and the
        # message must point at the file, not at a flag the user never passed.
        if override is not None:
            return parse(override)
        value = root.get(f"data-{name}")
        if value is None or value == "":
            where = "the root element" if finder.root_attrs is not None else "any element"
            raise InvalidCompositionError(
                f"'{entry}': {where} lacks data-{name}; add it to the composition root "
                f"or pass --{name}"
            )
        try:
            return parse(value)
        except InvalidConfigError as exc:
            raise InvalidCompositionError(
                f"'{entry}': data-{name}=\"{value}\" is invalid: {exc.message}; "
                f"fix the attribute or pass --{name}"
            ) from None

    width = pick("width", overrides.width, lambda v: parse_dimension("width", v))
    height = pick("height", overrides.height, lambda v: parse_dimension("height", v))
    fps = pick("fps", overrides.fps, parse_fps)
    duration = pick("duration", overrides.duration, parse_duration)
    declarations, warnings = parse_declarations(finder.html_attrs.get("data-composition-variables"))
    variables, var_warnings = resolve_variables(
        declarations, overrides.variables, strict=overrides.strict_variables
    )
    return Composition(
        project_dir=project.resolve(),
        entry=entry,
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        variables=variables,
        declarations=declarations,
        warnings=tuple(warnings + var_warnings),
    )


def parse_dimension(name: str, raw: Any) -> int:
    """Width/height: an even integer in 2–7680 (H.264 4:2:0 needs even sizes)."""
    text = str(raw).strip()
    # int() alone would also take "1_920" and non-ASCII digits.
    if not _INTEGER.fullmatch(text):
        raise InvalidConfigError(f"{name} must be an integer, got {raw!r}")
    value = int(text)
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise InvalidConfigError(f"{name} {value} is out of range; use {MIN_SIZE}–{MAX_SIZE}")
    if value % 2:
        raise InvalidConfigError(
            f"{name} {value} is odd; 4:2:0 video needs even sizes (try {value + 1})"
        )
    return value


def parse_fps(raw: Any) -> Fraction:
    """fps: an integer, a decimal, or a rational such as ``30000/1001`` (NTSC)."""
    text = str(raw).strip()
    try:
        fps = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise InvalidConfigError(
            f"fps must be a positive number or a rational like 30000/1001, got {raw!r}"
        ) from None
    if not 0 < fps <= MAX_FPS:
        raise InvalidConfigError(f"fps {text} is out of range; use a value in (0, {MAX_FPS}]")
    return fps


def parse_duration(raw: Any) -> Fraction:
    """Duration in seconds, > 0."""
    try:
        duration = Fraction(str(raw).strip())
    except (ValueError, ZeroDivisionError):
        raise InvalidConfigError(f"duration must be a number of seconds, got {raw!r}") from None
    if not 0 < duration <= MAX_DURATION_S:
        raise InvalidConfigError(
            f"duration {float(duration):g}s is out of range; use (0, {MAX_DURATION_S}] seconds"
        )
    return duration
