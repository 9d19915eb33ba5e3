"""``render()``: the in-process renderer behind ``framerun render``, as a function."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from framerun_service.errors import InvalidConfigError, OutputNotWritableError


def parse_frame_range(text: str) -> tuple[int, int]:
    """'A:B' → (A, B), frames [A, B)."""
    try:
        a, b = (int(part) for part in text.split(":"))
    except ValueError:
        raise InvalidConfigError(f"--frames {text!r} must look like A:B, e.g. 0:90") from None
    if a < 0 or b <= a:
        raise InvalidConfigError(f"--frames {text} needs 0 ≤ A < B")
    return a, b


def probe_output_folder(out_path: Path) -> None:
    """Create (and drop) a nameless file next to the output: the only sure writability test.

    ``os.access`` trusts permission bits, which root ignores and pseudo-filesystems
    such as /proc lie about; without this, such an output fails only after the render.
    """
    parent = out_path.parent
    try:
        with tempfile.TemporaryFile(dir=parent, prefix=".framerun-probe-"):
            pass
    except OSError as exc:
        raise OutputNotWritableError(
            f"cannot create files in '{parent}' ({exc.strerror}); choose another output folder"
        ) from None


def render(
    project_dir: str | Path,
    output: str | Path,
    *,
    composition: str = "index.html",
    width: int | None = None,
    height: int | None = None,
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
    on_plan: Callable[[Any], None] | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> Any:
    """Render a composition to a video file on this machine; returns a LocalRenderResult.

    Imports the engine lazily so ``import framerun`` stays light.
    """
    from framerun_service.render.composition import Overrides, load_composition
    from framerun_service.render.encoding import encoder_settings
    from framerun_service.render.local import check_output_path, render_local
    from framerun_service.render.plan import DEFAULT_CHUNK_SIZE, frame_range

    out_path = Path(output)
    check_output_path(out_path)
    probe_output_folder(out_path)
    # Everything a user can get wrong is checked before the engine starts a browser.
    if workers is not None and workers < 1:
        raise InvalidConfigError(f"--workers must be ≥ 1, got {workers}")
    if chunk_size is not None and chunk_size < 1:
        raise InvalidConfigError(f"--chunk-size must be ≥ 1, got {chunk_size}")
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
    enc = encoder_settings(fps=comp.fps, quality=quality, crf=crf, bitrate=bitrate)
    frame_range(comp, frames)
    return render_local(
        comp,
        enc,
        out_path,
        workers=workers,
        frames=frames,
        chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
        on_plan=on_plan,
        on_frames=on_frames,
    )
