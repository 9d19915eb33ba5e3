"""The sound of a composition: its ``<audio>``/``<video>`` elements, as clips to mix.

IO-free: reads the entry document's *text* (stdlib ``html.parser``) and never opens a
media file, so the planner can hash the clips. The audio mixer (``audio.py``) decodes.

The attribute names are HyperFrames' (``packages/engine/src/services/audioMixer.ts``
``parseAudioElements``, ``packages/core/src/runtime/media.ts``), so its compositions
play unchanged. When a clip starts and how long it plays follow the one clip-timing
resolver (``timing.py``)::

    data-start          seconds from the start of the enclosing composition; or
                        ``intro``, ``intro + 2``, ``intro - 0.5``: the end of #intro
    data-duration       how long it plays; absent = until the source ends (with
                        ``loop``: until the composition ends)
    data-end            legacy: data-duration = data-end − data-start
    data-playback-start the trim: offset into the source (``data-media-start`` is
                        read when it is absent, as HyperFrames does)
    data-volume         gain, 0–1 (HyperFrames renders up to +12 dB, so up to 3.98)
    loop                plain HTML: back to the trim when the source ends
    muted, data-volume="0", data-hidden (on it or an ancestor),
    data-has-audio="false"          silent: the element is skipped

A clip inside a nested composition host (an ancestor with ``data-composition-id``)
starts from the host's start and is cut at the hosts' end; with
``data-hf-media-start-basis="global"`` its data-start is root time instead. A host's
``data-composition-src`` file is read and its content placed inside the host, as
HyperFrames inlines it (its root keeps the host's timing; its paths point where
``subcomp.py`` says), so a sub-composition's sound is mixed too.
``data-playback-rate`` other than 1 is refused rather than mixed at the wrong speed.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from framerun_service.core.errors import MediaInvalidError
from framerun_service.render.subcomp import asset_path
from framerun_service.render.timing import ClipTiming, media_trim

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


ReadFile = Callable[[str], "str | None"]
MAX_SUB_COMPOSITION_DEPTH = 20  # HyperFrames' limit


def parse_media_clips(
    html: str,
    *,
    entry: str = "index.html",
    read: ReadFile | None = None,
    exists: Callable[[str], bool] | None = None,
    warnings: list[str] | None = None,
) -> tuple[MediaClip, ...]:
    """Every audible ``<audio>``/``<video>`` of ``html``, in document order.

    ``entry`` is the document's path inside the site: a ``src`` resolves against its
    folder, and the result is relative to the site. ``read`` returns a site file's text
    (None if there is none) and ``exists`` whether it has one: with them, sub-composition
    files are read and their clips count too. What the timing resolves but looks like a
    slip is appended to ``warnings``. Raises ``MediaInvalidError`` naming the element and
    the fix for a source outside the site or a bad volume.
    """
    builder = _TreeBuilder(base=posixpath.dirname(entry))
    builder.feed(html)
    builder.close()
    if read is not None:
        _inline_sub_compositions(builder, entry, read, exists or (lambda r: read(r) is not None))
    timing = ClipTiming(builder.find)
    clips = []
    for node in builder.media:
        clip = _clip(node, timing)
        if clip is not None:
            clips.append(clip)
    if warnings is not None:
        warnings += timing.warnings
    return tuple(clips)


def composition_clips(
    composition: Composition, *, warnings: list[str] | None = None
) -> tuple[MediaClip, ...]:
    """The clips of a loaded composition, each source checked to exist in the site.

    The one IO here: read the entry file (and its sub-composition files), look for the
    sources. A missing source fails at plan time, before any chunk renders (decoding
    waits for the mix). Timing slips are appended to ``warnings``.
    """
    text = composition.entry_path.read_text(encoding="utf-8")
    root = composition.project_dir.resolve()

    def exists(rel: str) -> bool:
        path = (root / rel).resolve()
        return path.is_relative_to(root) and path.is_file()

    def read(rel: str) -> str | None:
        if not exists(rel):
            return None
        try:
            return (root / rel).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            return None

    clips = parse_media_clips(
        text, entry=composition.entry, read=read, exists=exists, warnings=warnings
    )
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
        # Root-relative: the site is served at its root, so /media/a.mp3 is the project's
        # media/a.mp3 wherever the HTML file is (as a web server and HyperFrames read it).
        base, path = "", path.lstrip("/")
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined in (".", "..") or joined.startswith("../"):
        raise MediaInvalidError(f'{label}: src "{raw}" points outside the site folder; {fix}')
    return joined


# ---- the document as a small tree ---------------------------------------------------


class _Node:
    __slots__ = ("attrs", "base", "children", "file", "line", "parent", "tag")

    def __init__(
        self,
        tag: str,
        attrs: dict[str, str],
        parent: _Node | None,
        line: int,
        *,
        base: str = "",
        file: str = "",
    ) -> None:
        self.tag, self.attrs, self.parent, self.line = tag, attrs, parent, line
        self.base = base  # the folder its relative src resolves against
        self.file = file  # the sub-composition file it comes from ("" for the entry)
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
        where = f" of {self.file}" if self.file else ""
        return f"<{self.tag}{shown}> on line {self.line}{where}"


class _TreeBuilder(HTMLParser):
    """Elements with their parents; enough structure for hosts and <source> children."""

    def __init__(self, *, base: str = "", file: str = "") -> None:
        super().__init__(convert_charrefs=True)
        self.base, self.file = base, file
        self.root = _Node("#document", {}, None, 0, base=base, file=file)
        self._open = [self.root]
        self.media: list[_Node] = []
        self.ids: dict[str, _Node] = {}
        self.composition_ids: dict[str, _Node] = {}
        self.hosts: list[_Node] = []  # elements with data-composition-src

    def find(self, key: str) -> _Node | None:
        """The element a ``data-start`` reference names: by id, else by composition id."""
        return self.ids.get(key) or self.composition_ids.get(key)

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
        node = _Node(tag, values, self._open[-1], self.getpos()[0], base=self.base, file=self.file)
        self._open[-1].children.append(node)
        if tag in MEDIA_TAGS:
            self.media.append(node)
        if values.get("id"):
            self.ids.setdefault(values["id"], node)
        if values.get("data-composition-id"):
            self.composition_ids.setdefault(values["data-composition-id"], node)
        if values.get("data-composition-src", "").strip():
            self.hosts.append(node)
        if not void:
            self._open.append(node)


# ---- sub-compositions ---------------------------------------------------------------

# What HyperFrames takes off a sub-composition's root when it moves it into its host
# (runtime/flattenedRoot.ts): the host carries the composition's identity and timing.
_FLATTENED_ROOT_DROPS = frozenset(
    {
        "id",
        "data-composition-id",
        "data-composition-file",
        "data-composition-src",
        "data-start",
        "data-duration",
        "data-end",
        "data-track-index",
        "data-track",
        "data-hf-authored-duration",
        "data-hf-authored-end",
    }
)


def _walk(node: _Node) -> list[_Node]:
    """``node``'s descendants in document order."""
    out: list[_Node] = []
    stack = list(reversed(node.children))
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(current.children))
    return out


def _content(root: _Node, host_id: str) -> list[_Node]:
    """What HyperFrames mounts from a sub-composition file: its template's content (the
    one named ``<host id>-template``, else the first), else its body."""
    nodes = _walk(root)
    templates = [n for n in nodes if n.tag == "template"]
    named = [t for t in templates if host_id and t.attrs.get("id") == f"{host_id}-template"]
    if named or templates:
        return (named or templates)[0].children
    body = next((n for n in nodes if n.tag == "body"), None)
    return body.children if body is not None else root.children


def _inline_sub_compositions(
    builder: _TreeBuilder, entry: str, read: ReadFile, exists: Callable[[str], bool]
) -> None:
    """Place each host's sub-composition file inside it, as HyperFrames inlines it.

    A file that is missing, unreadable, outside the site or part of a cycle is skipped
    here: the page fails to mount it, which fails the render with the reason.
    """
    queue: list[tuple[_Node, tuple[str, ...]]] = [(h, ()) for h in builder.hosts]
    while queue:
        host, ancestry = queue.pop(0)
        raw = host.attrs["data-composition-src"]
        try:
            src = site_path(raw, base=posixpath.dirname(entry), label=host.label)
        except MediaInvalidError:
            continue
        text = read(src)
        if text is None or src in ancestry or len(ancestry) >= MAX_SUB_COMPOSITION_DEPTH:
            continue
        sub = _TreeBuilder(base=host.base, file=src)
        sub.feed(text)
        sub.close()
        host_id = host.attrs.get("data-composition-id", "").strip()
        content = _content(sub.root, host_id)
        candidates = [n for c in content for n in [c, *_walk(c)]]
        inner = next(
            (
                n
                for n in candidates
                if "data-composition-id" in n.attrs
                and (not host_id or n.attrs["data-composition-id"].strip() == host_id)
            ),
            None,
        )
        if inner is not None:  # the host takes its place: one flattened root inside it
            own_id = inner.attrs.get("data-composition-id")
            inner.attrs = {k: v for k, v in inner.attrs.items() if k not in _FLATTENED_ROOT_DROPS}
            if not host_id and own_id:  # an anonymous host's root keeps its id
                inner.attrs["data-composition-id"] = own_id
            content = [inner]
        host.children = list(content)
        for node in content:
            node.parent = host
        mounted = {id(n) for c in content for n in [c, *_walk(c)]}
        for node in sub.media:
            if id(node) in mounted:
                for el in [node, *(c for c in node.children if c.tag == "source")]:
                    if "src" in el.attrs:
                        el.attrs["src"] = asset_path(src, el.attrs["src"].strip(), exists)
                builder.media.append(node)
        for key, node in sub.ids.items():
            if id(node) in mounted:
                builder.ids.setdefault(key, node)
        for key, node in sub.composition_ids.items():
            if id(node) in mounted:
                builder.composition_ids.setdefault(key, node)
        queue += [(h, (*ancestry, src)) for h in sub.hosts if id(h) in mounted]


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


def _host_window_end(node: _Node, timing: ClipTiming) -> float:
    """When the nested composition hosts around ``node`` end, in root time (inf: never).

    The outermost composition element is the root itself: its data-duration is the
    video's (which --duration may override), so it is no window.
    """
    end = math.inf
    outer = [n for n in reversed(node.ancestors()) if _ROOT_MARKS.intersection(n.attrs)]
    for host in outer[1:]:
        if "data-composition-id" in host.attrs:
            length = timing.duration(host)
            if length is not None:
                end = min(end, timing.start(host) + length)
    return end


# ---- one element --------------------------------------------------------------------


def _silent(node: _Node) -> bool:
    attrs = node.attrs
    if "muted" in attrs or attrs.get("data-has-audio", "").strip().lower() == "false":
        return True
    return any("data-hidden" in n.attrs for n in [node, *node.ancestors()])


def _source(node: _Node) -> str:
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
    return site_path(raw, base=node.base, label=node.label)


def _clip(node: _Node, timing: ClipTiming) -> MediaClip | None:
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
    src = _source(node)
    window_end = _host_window_end(node, timing)
    start = timing.media_start(node)
    duration = timing.duration(node)
    if window_end < math.inf:
        if start >= window_end:
            return None
        duration = min(duration if duration is not None else math.inf, window_end - start)
    if duration == 0:
        return None
    media_start = media_trim(node)
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
