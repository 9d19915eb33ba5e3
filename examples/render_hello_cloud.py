"""Render examples/hello through the full distributed path on the local stack.

This is what `make demo` runs: the same path a Cloud Run deployment takes —
the SDK uploads the site and starts a Workflows execution; the emulator runs
the real workflows/render.yaml, which calls the service (under gunicorn, with
OIDC tokens) to plan, render chunks in parallel and assemble, all through
Cloud Storage (fake-gcs-server). Then it checks the video against an
in-process render of the same composition.
"""

from pathlib import Path

import av
import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

import framerun
from framerun.local import stack
from framerun.target import CloudRunTarget

HERE = Path(__file__).parent
OUT = HERE.parent / "out"
CHUNK_SIZE = 40
VARIABLES = {"title": "Hello from the cloud (locally)"}


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def min_psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    worst = float("inf")
    for x, y in zip(a, b, strict=True):
        mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
        worst = min(worst, float("inf") if mse == 0 else 10 * np.log10(255**2 / mse))
    return worst


def main() -> None:
    OUT.mkdir(exist_ok=True)
    # 1. The local stack: storage, OIDC issuer, service, Workflows emulator. Its
    #    target names every endpoint, the storage emulator's included.
    state = stack.up()
    target = CloudRunTarget.local()
    print(f"local stack up: service {state.service_url}, workflows {state.executions_endpoint}")

    # 2. Render through render_to_cloud_run(): site upload, request object, execution.
    #    The settings are framerun.render()'s keywords.
    handle = framerun.render_to_cloud_run(
        HERE / "hello", target=target, chunk_size=CHUNK_SIZE, variables=VARIABLES
    )
    print(f"execution: {handle.execution_name}")
    columns = (
        TextColumn("[bold]distributed render"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%  chunks {task.fields[chunks]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("render", total=1.0, chunks="0/?")

        def on_progress(p: framerun.RenderProgress) -> None:
            bar.update(
                task,
                completed=p.overall_progress,
                chunks=f"{p.chunks_done}/{p.chunks_total or '?'}",
            )

        # 3. Once it succeeds, the video is downloaded (atomically) to out/.
        video = OUT / "hello-distributed.mp4"
        progress = framerun.wait_for_render(
            handle,
            target=target,
            on_progress=on_progress,
            download_to=video,
            overwrite=True,  # the previous demo's video
        )

    # 4. Compare with the same composition rendered in-process.
    local = OUT / "hello-in-process.mp4"
    framerun.render(HERE / "hello", local, chunk_size=CHUNK_SIZE, variables=VARIABLES)
    distributed_frames, local_frames = decode(video), decode(local)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        seconds = float(stream.duration * stream.time_base)
    print(f"video: {video.resolve()}")
    print(
        f"size: {video.stat().st_size / 1e6:.2f} MB, {len(distributed_frames)} frames, "
        f"{seconds:.2f} s, cost {progress.costs.display_cost}"
    )
    print(f"PSNR vs in-process render: min {min_psnr(distributed_frames, local_frames):.1f} dB")
    print("the local stack keeps running for the next render; stop it with `framerun local down`")


# Local workers are separate processes that re-import this file.
if __name__ == "__main__":
    main()
