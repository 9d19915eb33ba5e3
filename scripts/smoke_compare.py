"""The body of scripts/smoke.sh: render a fixture in-process and distributed, compare frames.

``smoke.sh`` brings a target up (the local stack, or a Terraform deployment) and
calls this with where to find it. This writes a small fixture (640×360, 30 fps,
2 s: CSS keyframes, a canvas driven by requestAnimationFrame, and a crossfade
across t = 1 s, the seam of every multi-chunk case), renders it in-process as
the baseline, renders it again through ``render_to_cloud_run()`` once per
(format, chunk size) case, decodes both and requires every frame's PSNR to be
at least the threshold. It prints one table row per case.

Exit codes: 0 every case passed; 1 a case failed the PSNR gate (or decoded to
the wrong number of frames); 2 bad arguments; 3 PyAV/numpy missing; 4 a render
failed, the target could not be read, or this script crashed.

``--corrupt`` is the test hook that proves the gate bites on a corrupted chunk:
after the first multi-chunk case renders, its chunk objects are downloaded from
the bucket, bytes in the middle of chunk 1's largest packet (inside mdat) are
flipped, and the chunks are assembled again with the engine's own
``assemble()`` (the code the service's assemble Action runs). The plan tag and
SPS/PPS still match, so assemble accepts it: only decoding shows the damage,
and that case must fail the PSNR gate. (A chunk from another plan is refused by
assemble itself: the engine's CHUNK_MISMATCH tests cover that.)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

EXIT_OK, EXIT_PSNR, EXIT_USAGE, EXIT_MISSING, EXIT_RENDER = 0, 1, 2, 3, 4

try:
    import av
    import numpy as np
except ImportError as exc:  # not a gate failure: say so, with smoke.sh's own exit code
    print(f"error: {exc}; run `make setup` (the smoke test needs PyAV and numpy)")
    sys.exit(EXIT_MISSING)

WIDTH, HEIGHT, FPS, DURATION_S = 640, 360, 30, 2
TOTAL_FRAMES = FPS * DURATION_S
DEFAULT_FORMATS = ("mp4", "webm")
KNOWN_FORMATS = ("mp4", "webm", "mov", "png-sequence")
EXTENSIONS = {"mp4": "mp4", "webm": "webm", "mov": "mov", "png-sequence": "tar"}

FIXTURE_HTML = f"""<!doctype html>
<html>
<head>
  <meta charset="utf-8">
  <style>
    html, body {{ margin: 0; width: {WIDTH}px; height: {HEIGHT}px; overflow: hidden; }}
    body {{ font-family: "DejaVu Sans", sans-serif; }}
    .scene {{ position: absolute; inset: 0; }}
    #a {{ background: linear-gradient(135deg, #1d2b64, #3366cc);
          animation: fade-out 0.4s linear 0.8s forwards; }}
    #b {{ background: linear-gradient(45deg, #5b1d64, #cc6633); opacity: 0;
          animation: fade-in 0.4s linear 0.8s forwards; }}
    #box {{ position: absolute; left: 20px; top: 40px; width: 60px; height: 60px;
            background: #ffcc33; border-radius: 12px; animation: slide 2s linear forwards; }}
    #label {{ position: absolute; left: 20px; bottom: 24px; color: white; font-size: 28px; }}
    canvas {{ position: absolute; right: 20px; top: 100px; }}
    @keyframes fade-out {{ to {{ opacity: 0; }} }}
    @keyframes fade-in {{ to {{ opacity: 1; }} }}
    @keyframes slide {{ to {{ transform: translateX(480px) rotate(180deg); }} }}
  </style>
</head>
<body data-composition-id="smoke" data-width="{WIDTH}" data-height="{HEIGHT}"
      data-fps="{FPS}" data-duration="{DURATION_S}">
  <div class="scene" id="a"></div>
  <div class="scene" id="b"></div>
  <div id="box"></div>
  <div id="label">framerun smoke</div>
  <canvas id="c" width="200" height="200"></canvas>
  <script>
    // A canvas scene on requestAnimationFrame: the runtime drives it on virtual time.
    const ctx = document.getElementById("c").getContext("2d");
    function draw(now) {{
      const t = now / 1000;
      ctx.clearRect(0, 0, 200, 200);
      ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
      ctx.beginPath();
      ctx.arc(100, 100, 90, 0, 2 * Math.PI);
      ctx.fill();
      ctx.save();
      ctx.translate(100, 100);
      ctx.rotate(t * Math.PI);
      ctx.fillStyle = "#2a9d8f";
      ctx.fillRect(-15, -80, 30, 80);
      ctx.restore();
      ctx.fillStyle = "#e76f51";
      ctx.fillRect(20, 170, 160 * (t / {DURATION_S}), 14);
      requestAnimationFrame(draw);
    }}
    requestAnimationFrame(draw);
  </script>
</body>
</html>
"""


@dataclass(frozen=True)
class CaseResult:
    name: str
    chunks: int
    frames: int
    min_psnr: float
    mean_psnr: float
    wall_s: float
    failure: str | None  # None when the case passed


def write_fixture(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(FIXTURE_HTML, encoding="utf-8")
    return folder


def decode(path: Path) -> list[np.ndarray]:
    """Every frame that decodes, as RGB; packets that fail to decode are skipped.

    A PNG sequence (one ``.tar`` of numbered PNGs) decodes member by member.
    """
    frames: list[np.ndarray] = []
    if path.suffix == ".tar":
        import tarfile

        with tarfile.open(path) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                data = tar.extractfile(member)
                if data is None:
                    continue
                try:
                    decoded = av.CodecContext.create("png", "r").decode(av.Packet(data.read()))
                except av.error.FFmpegError:
                    continue
                frames.extend(f.to_ndarray(format="rgb24") for f in decoded)
        return frames
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                continue
            frames.extend(f.to_ndarray(format="rgb24") for f in decoded)
    return frames


IDENTICAL_DB = 100.0  # what an identical frame adds to the mean (its PSNR is infinite)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def compare(
    name: str,
    baseline: list[np.ndarray],
    video: Path,
    *,
    chunks: int,
    wall_s: float,
    threshold: float,
) -> CaseResult:
    frames = decode(video)
    scores = [psnr(x, y) for x, y in zip(baseline, frames, strict=False)]
    low = min(scores, default=0.0)
    capped = [min(s, IDENTICAL_DB) for s in scores]
    mean = sum(capped) / len(capped) if capped else 0.0
    failure = None
    if len(frames) != len(baseline):
        failure = f"decoded {len(frames)} frames, the baseline has {len(baseline)}"
    elif low < threshold:
        worst = scores.index(low)
        below = sum(s < threshold for s in scores)
        failure = (
            f"frame {worst} PSNR {low:.2f} dB < {threshold:g} dB "
            f"({below} of {len(scores)} frames below)"
        )
    return CaseResult(name, chunks, len(frames), low, mean, wall_s, failure)


def corrupt_largest_packet(path: Path) -> str:
    """Flip bytes in the middle of the video's largest packet (inside mdat); say where."""
    with av.open(str(path)) as container:
        packets = [
            (p.size, p.pos) for p in container.demux(video=0) if p.size and p.pos is not None
        ]
    size, pos = max(packets)
    width = max(16, min(512, size // 4))
    start = pos + size // 2 - width // 2
    data = bytearray(path.read_bytes())
    for i in range(start, start + width):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))
    return f"flipped {width} bytes at offset {start} in a {size}-byte packet"


def corrupt_chunk_and_reassemble(render_id: str, bucket: str, workdir: Path) -> tuple[Path, str]:
    """Re-assemble a finished render from its bucket chunks with chunk 1 corrupted."""
    from fractions import Fraction

    from framerun_service.core.storage import Storage
    from framerun_service.render.assemble import assemble
    from framerun_service.render.chunk import chunk_tag

    folder = workdir / f"corrupt-{render_id}"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"gs://{bucket}/renders/{render_id}"
    with Storage.from_env() as store:
        keys = [k for k in store.list_keys(f"{prefix}/chunks/") if k.endswith(".mp4")]
        paths = []
        for key in sorted(keys):
            path = folder / Path(key).name
            store.download_to(f"gs://{bucket}/{key}", path)
            paths.append(path)
        plan = store.read_json(f"{prefix}/plan.json")["plan"]
    where = corrupt_largest_packet(paths[1])
    out = folder / "reassembled.mp4"
    assemble(paths, out, fps=Fraction(plan["fps"]), plan_tag=chunk_tag(plan["planHash"]))
    return out, f"chunk {paths[1].name}: {where}; re-assembled {len(paths)} chunks"


def print_table(results: list[CaseResult]) -> None:
    header = ("case", "chunks", "frames", "min PSNR", "mean PSNR", "wall s")
    rows = [
        (
            r.name,
            str(r.chunks),
            str(r.frames),
            f"{r.min_psnr:.2f}",
            f"{r.mean_psnr:.2f}",
            f"{r.wall_s:.1f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if row is header:
            print("-+-".join("-" * w for w in widths))


def parse_chunk_sizes(text: str) -> list[int | None]:
    """``15,40,whole`` → [15, 40, None]; None is one chunk for the whole video."""
    sizes: list[int | None] = []
    for item in (part.strip() for part in text.split(",")):
        if item == "whole":
            sizes.append(None)
        elif item.isdigit() and int(item) > 0:
            sizes.append(int(item))
        else:
            raise argparse.ArgumentTypeError(f"chunk size {item!r} is not a positive int or whole")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smoke_compare.py", description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--outputs-file", type=Path, help="outputs.json of the local stack")
    where.add_argument("--from-terraform", type=Path, help="folder to run terraform output in")
    parser.add_argument("--workdir", type=Path, required=True, help="scratch folder")
    parser.add_argument("--formats", default=",".join(DEFAULT_FORMATS))
    parser.add_argument("--chunk-sizes", type=parse_chunk_sizes, default="15,40,whole")
    parser.add_argument("--psnr-threshold", type=float, default=40.0)
    parser.add_argument("--corrupt", action="store_true", help="test hook: see the docstring")
    parser.add_argument("--timeout", type=float, default=600.0, help="per render, seconds")
    args = parser.parse_args(argv)

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in KNOWN_FORMATS]
    if unknown or not formats:
        print(f"error: unknown format(s) {unknown}; known: {', '.join(KNOWN_FORMATS)}")
        return EXIT_USAGE

    import framerun
    from framerun.errors import FramerunError
    from framerun.target import CloudRunTarget
    from framerun_service.core.storage import Storage

    try:
        if args.outputs_file is not None:
            target = CloudRunTarget.from_outputs_file(args.outputs_file)
        else:
            target = CloudRunTarget.from_terraform(args.from_terraform)
    except FramerunError as exc:
        print(f"error: {exc}")
        return EXIT_RENDER
    if target.storage_emulator_host:
        os.environ["STORAGE_EMULATOR_HOST"] = target.storage_emulator_host

    fixture = write_fixture(args.workdir / "fixture")

    results: list[CaseResult] = []
    corrupted = False
    run_id = uuid.uuid4().hex[:12]  # outputs are create-only: each run names its own
    for fmt in formats:
        # Each format is compared with the same format rendered in-process.
        ext = EXTENSIONS[fmt]
        baseline_path = args.workdir / f"baseline.{ext}"
        began = time.monotonic()
        framerun.render(fixture, baseline_path, quality="high", format=fmt)
        baseline = decode(baseline_path)
        print(
            f"baseline {fmt}: in-process, {len(baseline)} frames in {time.monotonic() - began:.1f}s"
        )
        for size in args.chunk_sizes:
            name = f"{fmt}-{'whole' if size is None else f'chunk{size}'}"
            config: dict[str, object] = {
                "quality": "high",
                "format": fmt,
                "chunkSize": TOTAL_FRAMES if size is None else size,
            }
            began = time.monotonic()
            try:
                handle = framerun.render_to_cloud_run(
                    fixture, config, target=target, output_key=f"smoke/{run_id}/{name}.{ext}"
                )
                done = framerun.wait_for_render(handle, target=target, timeout_s=args.timeout)
                assert done.output_file is not None
                video = args.workdir / f"{name}.{ext}"
                with Storage.from_env() as store:
                    store.download_to(done.output_file, video)
            except FramerunError as exc:
                print(f"FAIL {name}: render failed: {exc}")
                return EXIT_RENDER
            wall = time.monotonic() - began
            if args.corrupt and not corrupted and done.chunks_total > 1:
                video, where = corrupt_chunk_and_reassemble(
                    handle.render_id, target.bucket_name, args.workdir
                )
                print(f"corrupt mode: {name}: {where}")
                corrupted = True
            results.append(
                compare(
                    name,
                    baseline,
                    video,
                    chunks=done.chunks_total,
                    wall_s=wall,
                    threshold=args.psnr_threshold,
                )
            )
            print(f"rendered {name}: {done.chunks_total} chunks, est. {done.costs.display_cost}")

    if not results:
        print("error: no case to compare; pass --formats mp4")
        return EXIT_USAGE
    print()
    print_table(results)
    print(f"(inf: all frames identical; the mean counts identical frames as {IDENTICAL_DB:g} dB)")
    print()
    failed = [r for r in results if r.failure is not None]
    for r in failed:
        print(f"FAIL {r.name}: {r.failure}")
    if args.corrupt and not corrupted:
        print("FAIL corrupt mode: no multi-chunk case ran, nothing was corrupted")
        return EXIT_PSNR
    if failed:
        print(f"smoke: FAIL ({len(failed)} of {len(results)} cases below the gate)")
        return EXIT_PSNR
    print(f"smoke: PASS ({len(results)} cases, every frame ≥ {args.psnr_threshold:g} dB)")
    return EXIT_OK


# framerun.render spawns workers that re-import this file: keep the guard.
if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # a crash must not look like a PSNR verdict (exit 1)
        traceback.print_exc()
        sys.exit(EXIT_RENDER)
