"""Clip timing: when an element starts and how long it lasts, by HyperFrames' rules.

One resolver for the whole engine: the composition loader (a root without
``data-duration`` lasts until its last clip ends) and the audio mix (``media.py``) use
this module, and the page uses its JavaScript twin in ``adapters/hyperframes.js``
(``window.__framerunHyperframes.clipWindow``), which ``test_timing.py`` holds to the same
answers. The rules are HyperFrames 0.8.170's (``@hyperframes/core`` runtime
``createRuntimeStartTimeResolver``):

``data-start``
    A number is seconds from the start of the enclosing composition (its host's start,
    less the host's ``data-media-start`` trim); below 0 counts as 0. An id — ``intro``,
    ``intro + 2``, ``intro - 0.5`` — is that element's end plus the offset, never before
    0; an id that names nothing, or a cycle of references, counts as 0. An element
    without ``data-start`` starts with its composition, except a composition root
    inside a host, which starts with the host.
``data-duration``
    Seconds, when above 0; else ``data-end`` minus the start, when the end is later
    (so ``data-end="0"`` is no end). Else the length is unknown here: the page knows a
    media element's or a timeline's length, the mix plays a source to its end.

What HyperFrames resolves silently but is likely a slip (an id that names nothing, a
reference cycle, a negative start) is noted in :attr:`ClipTiming.warnings`. IO-free.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

_ID = re.compile(r"[A-Za-z0-9_.:-]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+")
_TRAILING_NUMBER = re.compile(r"(?:[0-9]+\.)?[0-9]+$")


class Element(Protocol):
    """What the resolver reads of an element: its attributes and its parent."""

    @property
    def attrs(self) -> Mapping[str, str]: ...

    @property
    def parent(self) -> Element | None: ...


def js_number(raw: str | None) -> float | None:
    """An attribute as JavaScript's ``Number()`` reads it (HyperFrames parses them so):
    decimal or 0x/0o/0b, surrounding blanks ignored; None when empty or not finite."""
    text = (raw or "").strip()
    if not text:
        return None
    if _HEX.fullmatch(text):
        return float(int(text, 0))
    if _DECIMAL.fullmatch(text):
        value = float(text)
        return value if value not in (float("inf"), float("-inf")) else None
    return None


@dataclass(frozen=True)
class Reference:
    """``data-start="intro + 2"``: the end of #intro, plus an offset."""

    ref: str
    offset: float


def parse_start(raw: str | None) -> float | Reference | None:
    """A ``data-start`` value: seconds, a reference, or None (absent or unreadable)."""
    text = (raw or "").strip()
    if not text:
        return None
    number = js_number(text)
    if number is not None:
        return number
    if _ID.fullmatch(text):  # "intro", and "intro-2" too: ids may contain "-"
        return Reference(text, 0.0)
    match = _TRAILING_NUMBER.search(text)
    if match is None:
        return None
    head = text[: match.start()].rstrip()
    if not head or head[-1] not in "+-" or not _ID.fullmatch(head[:-1].strip()):
        return None
    magnitude = float(match.group())
    return Reference(head[:-1].strip(), -magnitude if head[-1] == "-" else magnitude)


def media_trim(el: Element) -> float:
    """``data-playback-start`` (else ``data-media-start``) when ≥ 0: where a media
    element — or a composition host — starts in its source."""
    for name in ("data-playback-start", "data-media-start"):
        value = js_number(el.attrs.get(name))
        if value is not None and value >= 0:
            return value
    return 0.0


class ClipTiming:
    """Starts and lengths of one document's elements; ``by_id`` finds an element by its
    id (or, failing that, by its ``data-composition-id``)."""

    def __init__(self, by_id: Callable[[str], Element | None]) -> None:
        self._by_id = by_id
        self._starts: dict[int, float] = {}
        self._visiting: set[int] = set()
        self.warnings: list[str] = []

    def duration(self, el: Element) -> float | None:
        """Seconds, or None when the document does not say."""
        length = js_number(el.attrs.get("data-duration"))
        if length is not None and length > 0:
            return length
        end = js_number(el.attrs.get("data-end"))
        if end is not None:
            start = self.start(el)
            if end > start:
                return end - start
        return None

    def start(self, el: Element, fallback: float = 0.0) -> float:
        key = id(el)
        if key in self._starts:
            return self._starts[key]
        if key in self._visiting:
            self._warn(el, "is part of a reference cycle; it starts at 0")
            return fallback
        self._visiting.add(key)
        try:
            value = self._resolve(el, fallback)
        finally:
            self._visiting.discard(key)
        self._starts[key] = value
        return value

    def media_start(self, el: Element) -> float:
        """When an ``<audio>``/``<video>`` starts (HyperFrames' resolveMediaStartForElement):
        without data-start, with its composition; with ``data-hf-media-start-basis=
        "global"``, its data-start is root time rather than its composition's."""
        scope = _enclosing_composition(el)
        host = self._composition_time(scope) if scope is not None else 0.0
        authored = js_number(el.attrs.get("data-start"))
        if authored is not None and host != 0 and "data-hf-auto-start" not in el.attrs:
            basis = el.attrs.get("data-hf-media-start-basis", "").strip().lower()
            return max(0.0, authored if basis == "global" else host + authored)
        return self.start(el, host)

    def host_offset(self, el: Element) -> float:
        """Where the composition ``el`` sits in begins, in the outer composition's time."""
        scope = _enclosing_composition(el.parent if _is_composition(el) else el)
        return self._composition_time(scope) if scope is not None else 0.0

    def _composition_time(self, host: Element) -> float:
        inherited = _inherits_from(host)
        return self.start(host) - media_trim(inherited or host)

    def _resolve(self, el: Element, fallback: float) -> float:
        raw = el.attrs.get("data-start")
        expression = parse_start(raw)
        if expression is None:
            if raw is not None and raw.strip():
                self._warn(el, f'data-start="{raw}" is neither seconds nor a clip id; ignored')
            parent = _inherits_from(el)
            return self.start(parent, fallback) if parent is not None else fallback
        if isinstance(expression, float):
            if expression < 0:
                self._warn(el, f'data-start="{raw}" is before the composition; it starts at 0')
            return self.host_offset(el) + max(0.0, expression)
        target = self._by_id(expression.ref)
        if target is None:
            self._warn(el, f'data-start="{raw}" names #{expression.ref}, which is not there')
            return fallback
        value = self.start(target, 0.0) + (self.duration(target) or 0.0) + expression.offset
        if value < 0:
            self._warn(el, f'data-start="{raw}" is before the composition; it starts at 0')
        return max(min(0.0, self.host_offset(el)), value)

    def _warn(self, el: Element, what: str) -> None:
        name = el.attrs.get("id") or el.attrs.get("data-composition-id") or ""
        message = f"<{getattr(el, 'tag', 'element')}{f' id={name!r}' if name else ''}> {what}"
        if message not in self.warnings:
            self.warnings.append(message)


def _is_composition(el: Element) -> bool:
    return "data-composition-id" in el.attrs


def _enclosing_composition(el: Element | None) -> Element | None:
    while el is not None and not _is_composition(el):
        el = el.parent
    return el


def _inherits_from(el: Element) -> Element | None:
    """The host a composition root without data-start takes its start from."""
    parent = el.parent
    if parent is None or not _is_composition(el):
        return None
    if parse_start(el.attrs.get("data-start")) is not None:
        return None
    host_marks = ("data-composition-src", "data-composition-id", "data-composition-file")
    return parent if any(mark in parent.attrs for mark in host_marks) else None
