"""The sound of a composition: its ``<audio>``/``<video>`` elements, as clips to mix.

IO-free: reads the entry document's *text* (stdlib ``html.parser``) and never opens a
media file, so the planner can hash the clips. The audio mixer (``audio.py``) decodes.

The attribute names are HyperFrames' (``packages/engine/src/services/audioMixer.ts``
``parseAudioElements``, ``packages/core/src/runtime/media.ts``), so its compositions
play unchanged::

    data-start          composition time the clip starts, seconds; or ``intro``,
                        ``intro + 2``, ``intro - 0.5``: relative to the end of #intro
    data-duration       how long it plays; absent = until the source ends (with
                        ``loop``: until the composition ends)
    data-end            legacy: data-duration = data-end − data-start
    data-media-start    the trim: offset into the source (``data-playback-start`` is
                        read when it is absent, as HyperFrames does)
    data-volume         gain, 0–1 (HyperFrames renders up to +12 dB, so up to 3.98)
    loop                plain HTML: back to data-media-start when the source ends
    muted, data-volume="0", data-hidden (on it or an ancestor),
    data-has-audio="false"          silent: the element is skipped

A clip inside a nested composition host (an ancestor with ``data-composition-id``)
is offset by the hosts' ``data-start`` and cut at their end, unless it says
``data-hf-media-start-basis="global"``. ``data-playback-rate`` other than 1 is refused
rather than mixed at the wrong speed.
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from framerun_service.errors import MediaInvalidError

if TYPE_CHECKING:
    from framerun_service.render.composition import Composition

MediaKind = Literal["audio", "video"]
MEDIA_TAGS = ("audio", "video")
MAX_VOLUME = 10 ** (12 / 20)  # HyperFrames' +12 dB ceiling (MAX_AUDIO_GAIN_DB)
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ID = re.compile(r"[A-Za-z0-9_.:-]+")
_REFERENCE = re.compile(r"([A-Za-z0-9_.:-]+?)\s*([+-])\s*([0-9]*\.?[0-9]+)")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# What marks the composition root (see composition.py), and nested hosts inside it.
_ROOT_MARKS = frozenset(
    ["data-composition-id", "data-width", "data-height", "data-fps", "data-duration"]
)


@dataclass(frozen=True)
class MediaClip:
    """One audible element: what to play, where on the timeline, how loud.

    Times are seconds. ``src`` is a normalised path relative to the site folder.
    ``label`` names the element in error messages (``<audio id="music"> on line 12``).
    """

    kind: MediaKind
    label: str
    src: str
    start_s: float
    duration_s: float | None = None
    media_start_s: float = 0.0
    volume: float = 1.0
    loop: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "src": self.src,
            "start": self.start_s,
            "duration": self.duration_s,
            "mediaStart": self.media_start_s,
            "volume": self.volume,
            "loop": self.loop,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MediaClip:
        duration = data.get("duration")
        return cls(
            kind=data["kind"],
            label=data["label"],
            src=data["src"],
            start_s=float(data["start"]),
            duration_s=None if duration is None else float(duration),
            media_start_s=float(data.get("mediaStart", 0.0)),
            volume=float(data.get("volume", 1.0)),
            loop=bool(data.get("loop", False)),
        )


def parse_media_clips(html: str, *, entry: str = "index.html") -> tuple[MediaClip, ...]:
    """Every audible ``<audio>``/``<video>`` of ``html``, in document order.

    ``entry`` is the document's path inside the site: a ``src`` resolves against its
    folder, and the result is relative to the site. Raises ``MediaInvalidError``
    naming the element and the fix for a source outside the site or a bad number.
    """
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    timing = _Timing(builder.ids)
    base = posixpath.dirname(entry)
    clips = []
    for node in builder.media:
        clip = _clip(node, timing, base)
        if clip is not None:
            clips.append(clip)
    return tuple(clips)


def composition_clips(composition: Composition) -> tuple[MediaClip, ...]:
    """The clips of a loaded composition, each source checked to exist in the site.

    The one IO here: read the entry file, look for the sources. A missing source
    fails at plan time, before any chunk renders (decoding waits for the mix).
    """
    text = composition.entry_path.read_text(encoding="utf-8")
    clips = parse_media_clips(text, entry=composition.entry)
    root = composition.project_dir.resolve()
    for clip in clips:
        path = (root / clip.src).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise MediaInvalidError(
                f"{clip.label}: source '{clip.src}' is not in the composition folder; "
                "add the file or fix its src"
            )
    return clips


def site_path(raw: str, *, base: str = "", label: str = "the element") -> str:
    """A ``src`` as a normalised path inside the site, or ``MediaInvalidError``.

    Also used by the mixer on clips read back from a plan, which may not come
    from this parser.
    """
    text = raw.strip()
    fix = (
        "copy the file into the site folder and point src at it with a relative path "
        'such as "audio/music.mp3"'
    )
    if _SCHEME.match(text) or text.startswith("//"):
        what = "a data: URL" if text[:5].lower() == "data:" else "a URL"
        raise MediaInvalidError(
            f'{label}: src "{raw}" is {what}; audio is mixed offline from the site\'s '
            f"own files and nothing is fetched, so {fix}"
        )
    path = unquote(text.split("#", 1)[0].split("?", 1)[0])
    if not path or "\\" in path or "\0" in path:
        raise MediaInvalidError(
            f'{label}: src "{raw}" is not a usable file path; {fix} (forward slashes only)'
        )
    if path.startswith("/"):
        raise MediaInvalidError(
            f'{label}: src "{raw}" is an absolute path; {fix}, relative to the HTML file'
        )
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined in (".", "..") or joined.startswith("../"):
        raise MediaInvalidError(f'{label}: src "{raw}" points outside the site folder; {fix}')
    return joined


# ---- the document as a small tree ---------------------------------------------------


class _Node:
    __slots__ = ("attrs", "children", "line", "parent", "tag")

    def __init__(self, tag: str, attrs: dict[str, str], parent: _Node | None, line: int) -> None:
        self.tag, self.attrs, self.parent, self.line = tag, attrs, parent, line
        self.children: list[_Node] = []

    def ancestors(self) -> list[_Node]:
        """Nearest first."""
        out, node = [], self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    @property
    def label(self) -> str:
        key = "id" if self.attrs.get("id") else "src"
        value = self.attrs.get(key, "")
        shown = f' {key}="{value}"' if value else ""
        return f"<{self.tag}{shown}> on line {self.line}"


class _TreeBuilder(HTMLParser):
    """Elements with their parents; enough structure for hosts and <source> children."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#document", {}, None, 0)
        self._open = [self.root]
        self.media: list[_Node] = []
        self.ids: dict[str, _Node] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._add(tag, attrs, void=tag in _VOID)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._add(tag, attrs, void=True)

    def handle_endtag(self, tag: str) -> None:
        # Unclosed elements (<p>, <li>) close with the first ancestor that matches.
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def _add(self, tag: str, attrs: list[tuple[str, str | None]], *, void: bool) -> None:
        values: dict[str, str] = {}
        for key, value in attrs:
            values.setdefault(key, value or "")  # the first duplicate wins, as in browsers
        node = _Node(tag, values, self._open[-1], self.getpos()[0])
        self._open[-1].children.append(node)
        if tag in MEDIA_TAGS:
            self.media.append(node)
        if values.get("id"):
            self.ids.setdefault(values["id"], node)
        if not void:
            self._open.append(node)


# ---- timing -------------------------------------------------------------------------


def _number(node: _Node, name: str, *, high: float = math.inf, hint: str) -> float | None:
    """A non-negative finite number attribute, or None when absent or empty."""
    raw = node.attrs.get(name)
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    value = float(text) if _NUMBER.fullmatch(text) else math.nan
    if not math.isfinite(value) or not 0 <= value <= high:
        raise MediaInvalidError(f'{node.label}: {name}="{raw}" is invalid; {hint}')
    return value


_SECONDS = "use a number of seconds ≥ 0, such as 1.5"


class _Timing:
    """Start and length of any element, resolving ``data-start="intro + 2"`` references."""

    def __init__(self, ids: dict[str, _Node]) -> None:
        self._ids = ids
        self._starts: dict[int, float] = {}
        self._visiting: set[int] = set()

    def start(self, node: _Node) -> float:
        key = id(node)
        if key not in self._starts:
            if key in self._visiting:
                raise MediaInvalidError(
                    f'{node.label}: data-start="{node.attrs.get("data-start")}" is part of a '
                    "reference cycle; give one of the clips a start in seconds"
                )
            self._visiting.add(key)
            try:
                self._starts[key] = self._resolve(node)
            finally:
                self._visiting.discard(key)
        return self._starts[key]

    def duration(self, node: _Node) -> float | None:
        duration = _number(node, "data-duration", hint=_SECONDS)
        if duration is not None:
            return duration
        end = _number(node, "data-end", hint=_SECONDS)
        if end is None or end == 0:  # HyperFrames reads data-end="0" as unset
            return None
        start = self.start(node)
        if end < start:
            raise MediaInvalidError(
                f'{node.label}: data-end="{node.attrs["data-end"]}" is before its start '
                f"({start:g} s); use data-duration instead"
            )
        return end - start

    def _resolve(self, node: _Node) -> float:
        raw = node.attrs.get("data-start", "").strip()
        if not raw or _NUMBER.fullmatch(raw):
            return _number(node, "data-start", hint=_SECONDS) or 0.0
        ref, offset = raw, 0.0
        match = _REFERENCE.fullmatch(raw)
        if match is not None and raw not in self._ids:  # "intro-2" is an id when one exists
            ref, sign, magnitude = match.groups()
            offset = float(magnitude) * (-1 if sign == "-" else 1)
        elif not _ID.fullmatch(raw):
            raise MediaInvalidError(
                f'{node.label}: data-start="{raw}" is not a number of seconds or a clip '
                'reference; use seconds ("1.5") or another element\'s id ("intro + 2")'
            )
        target = self._ids.get(ref)
        if target is None:
            raise MediaInvalidError(
                f'{node.label}: data-start="{raw}" refers to #{ref}, which is not in the '
                "document; fix the id or use a number of seconds"
            )
        length = self.duration(target)
        if length is None:
            raise MediaInvalidError(
                f'{node.label}: data-start="{raw}" starts when #{ref} ends, but #{ref} has '
                "no data-duration; add one to it, or give this clip a start in seconds"
            )
        start = self.start(target) + length + offset
        if start < 0:
            raise MediaInvalidError(
                f'{node.label}: data-start="{raw}" resolves to {start:g} s, before the '
                "composition starts; lower the offset or trim with data-media-start"
            )
        return start


def _host_window(node: _Node, timing: _Timing) -> tuple[float, float]:
    """(offset, end) of the nested composition hosts around ``node``, in root time.

    The outermost composition element is the root itself: its data-duration is the
    video's (which --duration may override), so it is no window.
    """
    offset, end = 0.0, math.inf
    outer = [n for n in reversed(node.ancestors()) if _ROOT_MARKS.intersection(n.attrs)]
    for host in outer[1:]:  # outermost first
        if "data-composition-id" not in host.attrs:
            continue
        host_start = offset + timing.start(host)
        length = timing.duration(host)
        if length is not None:
            end = min(end, host_start + length)
        offset = host_start
    return offset, end


# ---- one element --------------------------------------------------------------------


def _silent(node: _Node) -> bool:
    attrs = node.attrs
    if "muted" in attrs or attrs.get("data-has-audio", "").strip().lower() == "false":
        return True
    return any("data-hidden" in n.attrs for n in [node, *node.ancestors()])


def _source(node: _Node, base: str) -> str:
    raw = node.attrs.get("src", "")
    if not raw.strip():
        raw = next(
            (c.attrs["src"] for c in node.children if c.tag == "source" and c.attrs.get("src")),
            "",
        )
    if not raw.strip():
        raise MediaInvalidError(
            f'{node.label} has no src; add src="audio/music.mp3" (a file inside the site) '
            "or a <source src> child, or mute or remove the element"
        )
    return site_path(raw, base=base, label=node.label)


def _clip(node: _Node, timing: _Timing, base: str) -> MediaClip | None:
    if _silent(node):
        return None
    volume = _number(
        node,
        "data-volume",
        high=MAX_VOLUME,
        hint=f"use a gain from 0 to 1 (at most {MAX_VOLUME:.2f})",
    )
    volume = 1.0 if volume is None else volume
    if volume == 0:
        return None
    rate = _number(node, "data-playback-rate", hint="only 1 is supported; remove it")
    if rate is not None and rate != 1:
        raise MediaInvalidError(
            f'{node.label}: data-playback-rate="{node.attrs["data-playback-rate"]}" is not '
            "supported for audio; remove it (or set 1), or render the sped-up sound into the file"
        )
    src = _source(node, base)
    offset, window_end = _host_window(node, timing)
    if node.attrs.get("data-hf-media-start-basis", "").strip() == "global":
        offset = 0.0
    start = offset + timing.start(node)
    duration = timing.duration(node)
    if window_end < math.inf:
        if start >= window_end:
            return None
        duration = min(duration if duration is not None else math.inf, window_end - start)
    if duration == 0:
        return None
    media_start = _number(node, "data-media-start", hint=_SECONDS)
    if media_start is None:
        media_start = _number(node, "data-playback-start", hint=_SECONDS) or 0.0
    return MediaClip(
        kind="video" if node.tag == "video" else "audio",
        label=node.label,
        src=src,
        start_s=start,
        duration_s=duration,
        media_start_s=media_start,
        volume=volume,
        loop="loop" in node.attrs,
    )
