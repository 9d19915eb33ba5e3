"""Load a composition: the entry HTML's root attributes, validated, with overrides applied.

A project is a folder with an entry HTML file (default ``index.html``). Its root
element — ``<html>`` or ``<body>`` when it carries the attributes, else the first
element in ``<body>`` that does (HyperFrames' rule: its runtime takes the first
``[data-composition-id]`` in the document, which is ``<html>`` when that carries
one) — declares ``data-width``, ``data-height``,
``data-fps`` and ``data-duration`` (seconds). CLI flags override any of them.

HyperFrames compositions render unchanged, so its defaults apply: ``data-fps`` is
optional (30), and a root without ``data-duration`` lasts until its last timed clip
ends (``data-start`` + ``data-duration``, starts may reference another clip:
``"intro + 0.5"``). When the page also registers a GSAP timeline, HyperFrames takes
the longer of the two at run time, which cannot be known here: that is an error
that says the fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

from framerun_service.core.errors import (
    CompositionNotFoundError,
    InvalidCompositionError,
    InvalidConfigError,
    setting,
)
from framerun_service.render.timing import ClipTiming
from framerun_service.render.variables import (
    VariableDeclaration,
    parse_declarations,
    resolve_variables,
)

MIN_SIZE, MAX_SIZE = 2, 7680
MAX_FPS = 240
MAX_DURATION_S = 4 * 3600
ROOT_ATTRS = ("data-width", "data-height", "data-fps", "data-duration")
DEFAULT_FPS = Fraction(30)  # HyperFrames' default when the root has no data-fps
_INTEGER = re.compile(r"[+-]?[0-9]+")
# data-start: seconds, or "<clip id>", "<clip id> + 2", "<clip id> - 0.5" (that clip's end)
_NOT_CLIPS = frozenset({"script", "style", "link", "meta", "template", "noscript"})
_TIMELINE_REGISTRY = "__timelines"
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
        """The frame count of the full video: see :func:`frame_count`."""
        return frame_count(self.duration, self.fps)

    @property
    def entry_path(self) -> Path:
        return self.project_dir / self.entry


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    parent: _Element | None


class _RootFinder(HTMLParser):
    """Collects the <html> attributes, the composition root and the elements in <body>.

    ``<template>`` contents are inert (sub-composition sources), so they are skipped.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.html_attrs: dict[str, str] = {}
        self.root_attrs: dict[str, str] | None = None
        self.root: _Element | None = None
        self.elements: list[_Element] = []
        self._in_body = False
        self._templates = 0
        self._open: list[_Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: (v or "") for k, v in attrs}
        if tag == "html":
            self.html_attrs = values
        if tag == "template":
            self._templates += 1
        if self._templates or tag == "template":
            return
        element = _Element(tag, values, self._open[-1] if self._open else None)
        if self._in_body:
            self.elements.append(element)
        if tag not in _VOID:
            self._open.append(element)
        if tag == "body":
            self._in_body = True
        if self.root_attrs is not None:
            return
        if tag in ("html", "body"):
            # <html> or <body> is the root only when it carries a size attribute itself: a
            # bare data-composition-id there must not hide the root element inside it.
            if any(a in values for a in ROOT_ATTRS):
                self.root_attrs, self.root = values, element
            return
        is_root = "data-composition-id" in values or any(a in values for a in ROOT_ATTRS)
        if self._in_body and is_root:
            self.root_attrs, self.root = values, element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and not self._templates and self._open and self._open[-1].tag == tag:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self._templates = max(0, self._templates - 1)
            return
        if self._templates:
            return
        # Close up to the matching element; HTML lets authors omit some end tags.
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break


_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr"}
)  # fmt: skip


def load_composition(
    project_dir: str | Path, *, entry: str = "index.html", overrides: Overrides | None = None
) -> Composition:
    """Read and validate a composition; raises typed errors that name the fix."""
    overrides = overrides or Overrides()
    project = Path(project_dir)
    html = _read_entry(project, entry)
    finder = _RootFinder()
    finder.feed(html)
    root = _RootAttributes(finder.root_attrs or {}, entry, found=finder.root_attrs is not None)
    width = root.pick("width", overrides.width, lambda v: parse_dimension("width", v))
    height = root.pick("height", overrides.height, lambda v: parse_dimension("height", v))
    has_fps = root.given("fps", overrides.fps)
    fps = root.pick("fps", overrides.fps, parse_fps) if has_fps else DEFAULT_FPS
    duration, warnings = _duration(root, finder, html, overrides.duration)
    declarations, decl_warnings = _declarations(finder)
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
        warnings=tuple(warnings + decl_warnings + var_warnings),
    )


def _read_entry(project: Path, entry: str) -> str:
    """The entry file's text, refused when the folder, the file or its encoding is wrong.

    The entry comes from a flag or an API request: it must not name a file outside
    the project folder, which is all a render may read.
    """
    if not project.is_dir():
        raise CompositionNotFoundError(f"project folder '{project}' does not exist")
    entry_path = (project / entry).resolve()
    if not entry_path.is_relative_to(project.resolve()):
        raise InvalidCompositionError(f"entry '{entry}' is outside the project folder")
    if not entry_path.is_file():
        raise CompositionNotFoundError(
            f"entry file '{entry}' not found in '{project}'; pass {setting('composition')}=FILE"
        )
    try:
        return entry_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidCompositionError(f"'{entry}' is not UTF-8 text") from None


@dataclass(frozen=True)
class _RootAttributes:
    """The root element's ``data-*`` values, each beaten by its override when one is given.

    A bad flag is bad config; a bad attribute is a broken composition, and the
    message must point at the file, not at a flag the user never passed.
    """

    attrs: dict[str, str]
    entry: str
    found: bool  # whether the entry has a root element at all

    def given(self, name: str, override: Any) -> bool:
        """Whether ``data-<name>`` has a value, from the override or the root."""
        return override is not None or self.attrs.get(f"data-{name}", "") != ""

    def pick(self, name: str, override: Any, parse: Callable[[Any], _T]) -> _T:
        """The parsed override, else the parsed attribute, else an error naming the fix."""
        if override is not None:
            return parse(override)
        value = self.attrs.get(f"data-{name}")
        if value is None or value == "":
            if self.found:
                raise InvalidCompositionError(
                    f"'{self.entry}': the root element lacks data-{name}; add it to the "
                    f"composition root or pass {setting(name)}"
                )
            raise InvalidCompositionError(
                f"'{self.entry}': no element declares data-{name}; put data-width, "
                "data-height and data-duration on the composition root (<html>, <body> or "
                f"the element with data-composition-id) or pass {setting(name)}"
            )
        try:
            return parse(value)
        except InvalidConfigError as exc:
            raise InvalidCompositionError(
                f"'{self.entry}': data-{name}=\"{value}\" is invalid: {exc.message}; "
                f"fix the attribute or pass {setting(name)}"
            ) from None


def _duration(
    root: _RootAttributes, finder: _RootFinder, html: str, override: Any
) -> tuple[Fraction, list[str]]:
    """The video's length and what taking it warned about.

    Declared (or overridden) when it can be; else HyperFrames' rule, the end of the
    last timed clip, with a warning that says how to set it.
    """
    if root.given("duration", override):
        return root.pick("duration", override, parse_duration), []
    entry = root.entry
    duration, timing_warnings = _duration_from_clips(finder, entry, html)
    warnings = [f"'{entry}': {w}" for w in timing_warnings]
    warnings.append(
        f"'{entry}': the root has no data-duration; using {float(duration):g}s, where its "
        "last timed clip ends (HyperFrames' rule); add data-duration to the root to set it"
    )
    return duration, warnings


def _declarations(finder: _RootFinder) -> tuple[tuple[VariableDeclaration, ...], list[str]]:
    """Declarations on <html>, then on any element in <body>; a later one wins (HyperFrames)."""
    raws = [finder.html_attrs.get("data-composition-variables")]
    raws += [e.attrs.get("data-composition-variables") for e in finder.elements]
    by_id: dict[str, VariableDeclaration] = {}
    warnings: list[str] = []
    for raw in raws:
        if raw is None:
            continue
        decls, more = parse_declarations(raw)
        warnings += more
        for decl in decls:
            by_id.pop(decl.id, None)
            by_id[decl.id] = decl
    return tuple(by_id.values()), warnings


def _duration_from_clips(finder: _RootFinder, entry: str, html: str) -> tuple[Fraction, list[str]]:
    """The end of the last timed clip directly under the root (and what its timing warned
    about), or an error naming the fix.

    HyperFrames resolves a missing root duration in the page after its scripts ran:
    the registered GSAP timeline's length, floored by the clips' windows. Without a
    timeline the clips decide and are known here; with one, only the page knows.
    """
    end, timing_warnings = _clips_end(finder.elements, finder.root)
    where = "the root element" if finder.root is not None else "any element"
    if _TIMELINE_REGISTRY in html:
        hint = f'"{float(end):g}"' if end else '"<seconds>"'
        ends = f" (its timed clips end at {float(end):g}s)" if end else ""
        raise InvalidCompositionError(
            f"'{entry}': {where} lacks data-duration and the page registers a GSAP timeline "
            "in window.__timelines, whose length HyperFrames reads while rendering and "
            f"framerun needs before; add data-duration={hint} to the composition root{ends} "
            f"or pass {setting('duration')}"
        )
    if not end:
        raise InvalidCompositionError(
            f"'{entry}': {where} lacks data-duration and has no timed clips "
            "(data-start + data-duration) to take it from; add it to the composition root "
            f"or pass {setting('duration')}"
        )
    try:
        return parse_duration(end), timing_warnings
    except InvalidConfigError as exc:
        raise InvalidCompositionError(
            f"'{entry}': the clips end at {float(end):g}s, which is invalid: {exc.message}; "
            f"add data-duration to the root or pass {setting('duration')}"
        ) from None


def _clips_end(elements: list[_Element], root: _Element | None) -> tuple[Fraction, list[str]]:
    """Latest end over the clips whose nearest timed ancestor is the root, by
    HyperFrames' timing rules (``timing.py``), and what the timing warned about."""
    by_id: dict[str, _Element] = {}
    for key in ("id", "data-composition-id"):  # an id first, as getElementById finds it
        for e in elements:
            if e.attrs.get(key):
                by_id.setdefault(e.attrs[key], e)
    timing = ClipTiming(by_id.get)

    def top_level(e: _Element) -> bool:
        p = e.parent
        while p is not None and p is not root:
            if "data-start" in p.attrs and p.tag not in _NOT_CLIPS:
                return False
            p = p.parent
        return True

    end = Fraction(0)
    for e in elements:
        if e is root or "data-start" not in e.attrs or e.tag in _NOT_CLIPS or not top_level(e):
            continue
        if (length := timing.duration(e)) is not None:
            end = max(end, Fraction(timing.start(e) + length).limit_denominator(10**6))
    return end, timing.warnings


# HyperFrames' FRAME_BOUNDARY_EPSILON: a product this close to a whole frame is that frame.
FRAME_BOUNDARY_EPSILON = Fraction(1, 1000)


def frame_count(duration: Fraction, fps: Fraction) -> int:
    """duration × fps frames, rounded up: a video that lasts part of a frame longer than
    a whole number of frames shows that part too (19.05 s at 30 fps, 571.5, is 572), as
    HyperFrames counts them (durationToFrameCount). A product within 1/1000 of a whole
    number is that number, so rounding noise in a duration adds no frame."""
    raw = duration * fps
    nearest = round(raw)
    whole = nearest if abs(raw - nearest) <= FRAME_BOUNDARY_EPSILON else math.ceil(raw)
    return max(1, whole)


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
