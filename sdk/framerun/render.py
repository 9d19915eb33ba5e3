"""``render()``: the in-process renderer behind ``framerun render``, as a function."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from framerun_service.core.errors import InvalidConfigError, setting


def parse_frame_range(text: str) -> tuple[int, int]:
    """'A:B' → (A, B), frames [A, B)."""
    try:
        a, b = (int(part) for part in text.split(":"))
    except ValueError:
        raise InvalidConfigError(f"--frames {text!r} must look like A:B, e.g. 0:90") from None
    if a < 0 or b <= a:
        raise InvalidConfigError(f"--frames {text} needs 0 ≤ A < B")
    return a, b


def render(
    project_dir: str | Path,
    output: str | Path,
    *,
    composition: str = "index.html",
    width: int | str | None = None,
    height: int | str | None = None,
    fps: str | float | None = None,
    duration: str | float | None = None,
    quality: str = "standard",
    crf: int | None = None,
    bitrate: str | None = None,
    variables: Mapping[str, Any] | None = None,
    strict_variables: bool = False,
    workers: int | None = None,
    frames: tuple[int, int] | None = None,
    chunk_size: int | None = None,
    format: str | None = None,  # mp4 | webm | mov | png-sequence; default: the output's name
    codec: str = "h264",  # mp4 only: h264 | h265
    transparent: bool = False,  # keep alpha (mov, webm, png-sequence)
    on_plan: Callable[[Any], None] | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> Any:
    """Render a composition to a video file (or a folder of PNGs) on this machine.

    Returns a LocalRenderResult. The format comes from ``format`` or the output's
    name: ``.mp4``, ``.webm``, ``.mov``, ``.tar`` (a PNG sequence in one tar) or a
    name ending in ``/`` (a folder of PNGs).

    Imports the engine lazily so ``import framerun`` stays light. ``workers`` is the
    number of pages drawing chunks at once, each on a thread of this process with
    its own browser. Everything a user can get wrong is checked before a browser
    starts, and all but the output path before the engine (PyAV, Playwright) is even
    imported, so bad input fails fast.
    """
    from framerun_service.render.composition import Overrides, load_composition
    from framerun_service.render.encoding import encoder_settings, format_for_output
    from framerun_service.render.plan import frame_range

    if chunk_size is not None and chunk_size < 1:
        raise InvalidConfigError(f"{setting('chunk_size')} must be ≥ 1, got {chunk_size}")
    comp = load_composition(
        project_dir,
        entry=composition,
        overrides=Overrides(
            width=width,
            height=height,
            fps=fps,
            duration=duration,
            variables=dict(variables or {}),
            strict_variables=strict_variables,
        ),
    )
    enc = encoder_settings(
        fps=comp.fps,
        quality=quality,
        crf=crf,
        bitrate=bitrate,
        format=format_for_output(str(output), format),
        codec=codec,
        transparent=transparent,
    )
    frame_range(comp, frames)

    # The engine checks the workers and the output path (it owns them) before it
    # launches anything.
    from framerun_service.render.local import render_local

    return render_local(
        comp,
        enc,
        Path(output),
        workers=workers,
        frames=frames,
        chunk_size=chunk_size,
        on_plan=on_plan,
        on_frames=on_frames,
    )
