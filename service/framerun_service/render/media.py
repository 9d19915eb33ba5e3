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
HyperFrames inlines it (``mediagraft.py``: its root keeps the host's timing; its paths
point where ``subcomp.py`` says), so a sub-composition's sound is mixed too.
``data-playback-rate`` other than 1 is refused rather than mixed at the wrong speed.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from framerun_service.core.errors import MediaInvalidError
from framerun_service.render.mediagraft import ReadFile, inline_sub_compositions
from framerun_service.render.mediatree import DocumentTree, TreeNode
from framerun_service.render.sitepath import site_path
from framerun_service.render.timing import ClipTiming, media_trim

if TYPE_CHECKING:
    from framerun_service.render.composition import Composition

MediaKind = Literal["audio", "video"]
MAX_VOLUME = 10 ** (12 / 20)  # HyperFrames' +12 dB ceiling (MAX_AUDIO_GAIN_DB)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
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
    tree = DocumentTree(base=posixpath.dirname(entry))
    tree.feed(html)
    tree.close()
    if read is not None:
        inline_sub_compositions(tree, entry, read, exists or (lambda r: read(r) is not None))
    timing = ClipTiming(tree.find)
    clips = []
    for node in tree.media:
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


# ---- timing -------------------------------------------------------------------------


def _number(node: TreeNode, name: str, *, high: float = math.inf, hint: str) -> float | None:
    """A non-negative finite number attribute, or None when absent or empty."""
    raw = node.attrs.get(name)
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    value = float(text) if _NUMBER.fullmatch(text) else math.nan
    if not math.isfinite(value) or not 0 <= value <= high:
        raise MediaInvalidError(f'{node.label}: {name}="{raw}" is invalid; {hint}')
    return value


def _host_window_end(node: TreeNode, timing: ClipTiming) -> float:
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


def _silent(node: TreeNode) -> bool:
    attrs = node.attrs
    if "muted" in attrs or attrs.get("data-has-audio", "").strip().lower() == "false":
        return True
    return any("data-hidden" in n.attrs for n in [node, *node.ancestors()])


def _source(node: TreeNode) -> str:
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


def _clip(node: TreeNode, timing: ClipTiming) -> MediaClip | None:
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
