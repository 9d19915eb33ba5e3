"""Client-side checks of a render, run before anything is uploaded or started.

The config is checked as the service will check it, against the project's
composition, so a typo fails in milliseconds instead of after a cold start; the
output key is checked so a render cannot write outside the bucket's plain keys
or over the SDK's own site archives. Both are IO-free apart from reading the
project's entry HTML, which is why batch renders run them on every line first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framerun_service.core import wire
from framerun_service.core.errors import InvalidConfigError, OutputNotWritableError

if TYPE_CHECKING:
    from framerun_service.render.config import RenderConfig

# Keys the SDK itself owns: an output there could clash with a content-addressed site, or
# sit in a render's folder (which `renders delete` removes whole).
_RESERVED_PREFIXES = (wire.SITES_PREFIX, wire.RENDERS_PREFIX, wire.IDEMPOTENCY_PREFIX)


def validate_render_config(
    config: Mapping[str, Any], project_dir: str | os.PathLike[str] | None = None
) -> RenderConfig:
    """Check a wire config (camelCase) as the service will, before anything is uploaded.

    With ``project_dir`` the composition is loaded with the config's overrides, so
    sizes, fps, duration, variables (strict if asked), the frame range and the
    chunking are checked too — all IO-free except reading the entry HTML.
    """
    from framerun_service.render.chunksizing import MAX_INSTANCE_VCPUS
    from framerun_service.render.composition import load_composition
    from framerun_service.render.config import RenderConfig
    from framerun_service.render.plan import DEFAULT_MAX_PARALLEL_CHUNKS, make_plan

    if not isinstance(config, Mapping):
        raise InvalidConfigError(f"config must be an object, got {type(config).__name__}")
    parsed = RenderConfig.from_json(config)
    if project_dir is None:
        return parsed
    comp = load_composition(
        Path(project_dir), entry=parsed.composition, overrides=parsed.overrides()
    )
    # The plan the service will make, to its limits (the chunk cap among them).
    make_plan(
        comp,
        parsed.encoder(comp.fps),
        site_hash="0" * 64,  # placeholders: only the shape of the plan is checked here
        browser_version="unknown",
        frames=parsed.frames,
        chunk_size=parsed.chunk_size,
        target_chunk_frames=parsed.target_chunk_frames,
        max_parallel_chunks=parsed.max_parallel_chunks or DEFAULT_MAX_PARALLEL_CHUNKS,
        # The client cannot know the instance's size: check against Cloud Run's largest,
        # refusing only what no instance could render; the service checks its own size.
        instance_vcpus=MAX_INSTANCE_VCPUS,
    )
    return parsed


def check_output_key(key: str) -> str:
    """A relative object key for the video: no leading '/', no '..', '.' or empty segments."""
    if not isinstance(key, str) or not key:
        raise OutputNotWritableError("the output key must be a non-empty relative object key")
    if key.startswith("/") or "\\" in key:
        raise OutputNotWritableError(
            f"output key {key!r} must be relative to the bucket (no leading '/' or '\\'), "
            "e.g. videos/intro.mp4"
        )
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise OutputNotWritableError(
            f"output key {key!r} has an empty, '.' or '..' segment; use a plain path such as "
            "videos/intro.mp4"
        )
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key) or len(key.encode()) > 900:
        raise OutputNotWritableError(
            f"output key {key!r} has control characters or is over 900 bytes; shorten it"
        )
    if key.startswith(_RESERVED_PREFIXES):
        raise OutputNotWritableError(
            f"output key {key!r} is under {', '.join(_RESERVED_PREFIXES)}, which framerun "
            "keeps for sites, renders' own objects and idempotency claims; choose another folder"
        )
    return key
