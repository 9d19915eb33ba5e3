"""Measure the per-chunk and per-render overheads that ``framerun bench --model`` uses.

The cost and time model (``sdk/framerun/costmodel.py``) adds these to the per-frame
render cost (``render/throughput.py``). Each figure is measured on this machine, on
the local stack (``framerun local up``'s machinery: fake-gcs-server on loopback, the
service under gunicorn), with the production code paths:

- ``service_start_s``: a cold ``gunicorn -c python:framerun_service.gunicorn_conf``
  (a new Python, the app imported and created) until ``/healthz`` answers: the
  container's own share of a Cloud Run cold start (the platform's share, starting the
  instance, is taken from the documentation, not measured).
- ``download_s_per_mb`` / ``upload_s_per_mb``: ``Storage.download_to`` /
  ``Storage.upload_file_if_absent`` of a 64 MiB object, through fake-gcs-server.
- ``site_s_per_mb``: a site archive fetched and unpacked (``Storage.download_to`` +
  ``extract_site_archive``, what ``Engine.site`` does on an instance's first chunk),
  per MB of archive; ``site_fixed_s`` the same for the small ``examples/bench`` site.
- ``chunk_cold_s`` / ``chunk_warm_s``: a one-frame chunk of ``examples/bench`` at
  1080p through ``render/chunk.py`` ``render_chunk``, first with a new browser session
  (Chrome launched, as on a new instance), then again on the warm session: a chunk's
  fixed cost, frame 0 (no pre-roll).
- ``preroll_ms_per_frame``: a page of ``examples/bench`` pre-rolled through 3000 frames
  (``runtime.js`` ``preroll``): a chunk starting at frame N pays N times this.
- ``bytes_per_frame``, ``assemble_s_per_mb``: a ≈45-frame 1080p chunk (a 10-minute
  video split over 400 instances; the bench's 300 frames split evenly give 43)
  encoded at the default quality, then 20 copies stream-copied into one MP4 by
  ``render/assemble.py`` ``assemble``; seconds per MB of output.

Run it with ``.venv/bin/python scripts/measure_overheads.py`` (2-3 minutes); it prints
one JSON object. The figures are then written into ``costmodel.MEASURED`` by hand,
with the date, the commit and this command, so ``framerun bench --model`` runs in a
second with no browser. The machine is small and shared: re-measure on a quiet one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "examples" / "bench"
MB = 1_000_000
T = TypeVar("T")


def log(msg: str) -> None:
    print(f"[overheads] {msg}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def best_of(n: int, fn: Callable[[], float]) -> float:
    """The fastest of ``n`` runs: the machine is shared, nothing makes a run faster."""
    return min(fn() for _ in range(n))


def measure_service_start(storage_url: str, work: Path) -> float:
    """A cold gunicorn with the service, until /healthz answers."""
    from framerun.local.stack import (
        BUCKET,
        PROJECT,
        free_port,
        service_argv,
        service_environment,
    )

    port = free_port()
    env = {
        **os.environ,
        "STORAGE_EMULATOR_HOST": storage_url,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        **service_environment(
            port=port,
            bucket=BUCKET,
            audiences=(f"http://127.0.0.1:{port}",),
            issuer_url="http://127.0.0.1:9",
            certs_url="http://127.0.0.1:9/certs",
            work_dir=work / "service",
            webhook_secret="measure",
        ),
    }
    argv = service_argv(port)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return time.perf_counter() - started
            except OSError:
                if proc.poll() is not None or time.perf_counter() - started > 60:
                    raise SystemExit(
                        "the service did not start; run it by hand to see why"
                    ) from None
                time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure_storage(storage_url: str, work: Path) -> dict[str, float]:
    """Upload, download and site fetch + unpack through fake-gcs-server."""
    os.environ["STORAGE_EMULATOR_HOST"] = storage_url
    from framerun.local.stack import BUCKET as bucket
    from framerun_service.core.storage import Storage
    from framerun_service.render.archive import extract_site_archive, make_site_archive

    blob = work / "blob.bin"
    blob.write_bytes(os.urandom(64 * 2**20))
    size_mb = blob.stat().st_size / MB
    # A site with a 32 MiB incompressible asset, and the bench site as it is.
    big_site = work / "big-site"
    shutil.copytree(PROJECT, big_site)
    (big_site / "asset.bin").write_bytes(os.urandom(32 * 2**20))
    figures: dict[str, float] = {}
    with Storage.from_env() as storage:
        uploads = []
        for i in range(3):
            _, s = timed(lambda i=i: storage.upload_file_if_absent(blob, f"gs://{bucket}/b{i}"))
            uploads.append(s)
        figures["upload_s_per_mb"] = min(uploads) / size_mb

        def download() -> float:
            return timed(lambda: storage.download_to(f"gs://{bucket}/b0", work / "down.bin"))[1]

        figures["download_s_per_mb"] = best_of(3, download) / size_mb
        storage.upload_bytes_if_absent(b"x" * 1000, f"gs://{bucket}/small")
        figures["object_s"] = best_of(
            5, lambda: timed(lambda: storage.read_bytes(f"gs://{bucket}/small"))[1]
        )
        for name, site in (("small", PROJECT), ("big", big_site)):
            archive = work / f"{name}.tar.gz"
            make_site_archive(site, archive)
            storage.upload_file_if_absent(archive, f"gs://{bucket}/{name}.tar.gz")

            def fetch(name: str = name) -> float:
                dest = work / f"x-{name}"
                shutil.rmtree(dest, ignore_errors=True)
                local = work / f"got-{name}.tar.gz"
                uri = f"gs://{bucket}/{name}.tar.gz"
                started = time.perf_counter()
                storage.download_to(uri, local)
                extract_site_archive(local, dest)
                return time.perf_counter() - started

            figures[f"site_{name}_s"] = best_of(3, fetch)
            figures[f"site_{name}_mb"] = archive.stat().st_size / MB
    extra = figures.pop("site_big_s") - figures["site_small_s"]
    figures["site_s_per_mb"] = extra / (figures.pop("site_big_mb") - figures["site_small_mb"])
    figures["site_fixed_s"] = figures.pop("site_small_s")
    figures["site_bench_mb"] = figures.pop("site_small_mb")
    return figures


def measure_engine(work: Path) -> dict[str, float]:
    """Chunk fixed cost (cold and warm), pre-roll per frame, bytes per frame, assemble."""
    from framerun_service.render.assemble import assemble
    from framerun_service.render.browser import BrowserSession, PageSpec
    from framerun_service.render.chunk import render_chunk
    from framerun_service.render.composition import load_composition
    from framerun_service.render.encoding import encoder_settings
    from framerun_service.render.local import plan_local

    figures: dict[str, float] = {}
    # The plan Action's own work on an extracted site: load the composition, split it.
    comp, figures["plan_s"] = timed(lambda: load_composition(PROJECT))
    enc = encoder_settings(fps=comp.fps)
    one, seconds = timed(lambda: plan_local(comp, enc, chunk_size=1))
    figures["plan_s"] += seconds
    session = BrowserSession()
    try:
        result, figures["chunk_cold_s"] = timed(
            lambda: render_chunk(session, one, one.chunks[0], PROJECT, work / "one.mp4")
        )
        assert result.frames == 1
        figures["chunk_warm_s"] = best_of(
            3,
            lambda: timed(
                lambda: render_chunk(session, one, one.chunks[0], PROJECT, work / "one.mp4")
            )[1],
        )
        spec = PageSpec(PROJECT, comp.entry, comp.width, comp.height, float(comp.fps), {})
        page = session.open(spec)
        try:
            frames = 3000
            _, seconds = timed(lambda: page.preroll(frames))
        finally:
            page.close()
        figures["preroll_ms_per_frame"] = seconds / frames * 1000
        chunk45 = plan_local(comp, enc, chunk_size=45)
        first = work / "c45.mp4"
        render_chunk(session, chunk45, chunk45.chunks[0], PROJECT, first)
    finally:
        session.close()
    frames = chunk45.chunks[0].frames  # 300 frames split evenly: 43, not 45
    figures["bytes_per_frame"] = first.stat().st_size / frames
    copies = []
    for i in range(20):
        copy = work / f"part{i:02d}.mp4"
        shutil.copyfile(first, copy)
        copies.append(copy)
    out, seconds = timed(lambda: assemble(copies, work / "out.mp4", fps=comp.fps))
    assert out.frames == 20 * frames, out.frames
    figures["assemble_20_chunks_s"] = seconds
    figures["assemble_s_per_mb"] = seconds / (out.bytes / MB)
    return figures


def main() -> int:
    from framerun.local import stack

    with tempfile.TemporaryDirectory(prefix="framerun-overheads-") as tmp:
        work = Path(tmp)
        state = stack.up(work / "stack")
        try:
            figures = {
                "service_start_s": best_of(
                    2, lambda: measure_service_start(state.storage_url, work)
                )
            }
            log(f"service start: {figures}")
            figures.update(measure_storage(state.storage_url, work))
            log(f"storage: {figures}")
        finally:
            stack.down(work / "stack")
        figures.update(measure_engine(work))
    print(json.dumps({k: round(v, 4) for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
