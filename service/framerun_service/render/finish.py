"""The last step of every render, local or distributed: mix the sound once, then
stream-copy the chunks and that one audio track into the output.

Chunks carry no audio: a track cut at chunk seams would click, and AAC's
priming would shift every piece. So the ``<audio>``/``<video>`` clips the plan
froze are mixed here, on the one machine that assembles, straight from the
site's files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from framerun_service.render.assemble import AssembleResult, assemble
from framerun_service.render.audio import audio_codec_for, audio_suffix, mix_audio
from framerun_service.render.chunk import chunk_tag
from framerun_service.render.plan import Plan


def mix_plan_audio(plan: Plan, site_dir: Path, work_dir: Path) -> Path | None:
    """The plan's audio track, encoded for its container; None when the video is silent."""
    codec = audio_codec_for(plan.encoder.container)
    if not plan.audio or codec is None:
        return None
    return mix_audio(
        plan.audio,
        site_dir,
        duration=plan.total_frames / plan.fps,
        fps=plan.fps,
        codec=codec,
        out_path=work_dir / f"audio{audio_suffix(codec)}",
        frames=(plan.frame_start, plan.frame_end),
    )


def finish_render(
    plan: Plan, chunk_paths: Sequence[Path], out_path: Path, *, site_dir: Path, work_dir: Path
) -> AssembleResult:
    """Assemble ``chunk_paths`` into ``out_path`` with the plan's audio mixed in."""
    track = mix_plan_audio(plan, site_dir, work_dir)
    return assemble(
        chunk_paths, out_path, fps=plan.fps, plan_tag=chunk_tag(plan.plan_hash), audio=track
    )
