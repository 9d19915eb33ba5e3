"""The local stack for the reliability suite, wired through fault-injecting proxies.

SDK → Executions gRPC (the emulator running the real ``workflows/render.yaml``) →
ServiceProxy → the service under gunicorn (two workers: two "instances") →
StorageProxy → fake-gcs-server. Tokens are real RS256 ID tokens from the local
issuer, verified by the service exactly as on Cloud Run.

The service's timeouts are lowered so faults resolve in seconds: storage reads
time out after 3 s and its retries give up after 6 s, a page must load within
5 s and a seek settle within 5 s. Everything else is as deployed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

import framerun
from framerun.local.issuer import LocalIssuer
from framerun.local.workflows import Emulator
from framerun.target import CloudRunTarget
from framerun_service.core.storage import Storage
from framerun_service.core.wire import EXECUTION_RECORD_KEY, execution_record_uri
from tests.gcs_emulator import FakeGcs
from tests.reliability.rel_proxies import ServiceProxy, StorageProxy, running_proxies
from tests.service.service_harness import RunningService, stop_service
from tests.service.service_harness import start_service as harness_start_service
from tests.videos import decode, min_psnr
from tests.workflow.wf_harness import render_workflow

REPO = Path(__file__).resolve().parents[2]
MIN_PSNR_DB = 45.0
SERVICE_WORKERS = 2
SERVICE_TUNING = {
    "FRAMERUN_STORAGE_TIMEOUT_S": "3",
    "FRAMERUN_STORAGE_RETRY_DEADLINE_S": "6",
    "FRAMERUN_LOAD_TIMEOUT_S": "5",
    "FRAMERUN_SEEK_TIMEOUT_S": "5",
    "FRAMERUN_GRACEFUL_TIMEOUT_S": "2",  # the session's teardown need not wait 8 s
}
# Workflows' retry backoff (2 s, 4 s, 8 s, …) really waits, 10× shorter: the
# schedule itself is unit-tested in tests/workflow.
BACKOFF_SCALE = 10.0


def soak() -> bool:
    """``FRAMERUN_SOAK=1`` (``make soak``) scales the suite's counts up."""
    return os.environ.get("FRAMERUN_SOAK", "") not in ("", "0")


def _fast_sleep(seconds: float) -> None:
    time.sleep(seconds / BACKOFF_SCALE)


@dataclass
class RelStack:
    bucket: str
    fake_gcs: FakeGcs
    issuer: LocalIssuer
    service: RunningService
    storage_proxy: StorageProxy
    service_proxy: ServiceProxy
    emulator: Emulator
    target: CloudRunTarget
    work_dir: Path
    killed: list[int] = field(default_factory=list)

    # -- the bucket -----------------------------------------------------------------------

    def objects(self, prefix: str = "") -> dict[str, tuple[int, int, str | None]]:
        """``{name: (generation, size, md5)}`` read straight from fake-gcs (no proxy)."""
        with self.fake_gcs.client() as client:
            return {
                b.name: (int(b.generation or 0), int(b.size or 0), b.md5_hash)
                for b in client.list_blobs(self.bucket, prefix=prefix or None)
            }

    def storage(self) -> Storage:
        return Storage(self.fake_gcs.client())

    # -- the service's processes ----------------------------------------------------------

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.service.process.pid).children()

    def tree(self) -> list[psutil.Process]:
        """The master, its workers and everything they started (node, chrome)."""
        master = psutil.Process(self.service.process.pid)
        return [master, *master.children(recursive=True)]

    def kill_workers(self) -> list[psutil.Process]:
        """SIGKILL every worker (an instance dying); returns what they had started."""
        orphans: list[psutil.Process] = []
        for worker in self.workers():
            with contextlib.suppress(psutil.NoSuchProcess):
                orphans += worker.children(recursive=True)
                worker.send_signal(signal.SIGKILL)
                self.killed.append(worker.pid)
        return orphans

    def wait_for_workers(self, count: int = SERVICE_WORKERS, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            alive = [w for w in self.workers() if w.pid not in self.killed]
            if len(alive) >= count and self._healthy():
                return
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not respawn {count} workers in {timeout_s}s")

    def _healthy(self) -> bool:
        try:
            return requests.get(self.service.url + "/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    def reset(self) -> None:
        self.storage_proxy.reset()
        self.service_proxy.reset()

    # -- renders --------------------------------------------------------------------------

    def start(self, project: Path, config: dict[str, Any]) -> framerun.RenderHandle:
        return framerun.render_to_cloud_run(project, config, target=self.target)

    def wait(self, handle: framerun.RenderHandle, timeout_s: float = 240) -> Any:
        return framerun.wait_for_render(
            handle, target=self.target, poll_interval_s=0.2, timeout_s=timeout_s
        )

    def progress(self, handle: framerun.RenderHandle) -> framerun.RenderProgress:
        return framerun.get_render_progress(handle.execution_name, target=self.target)

    def download(self, uri: str, dest: Path) -> Path:
        with self.storage() as store:
            store.download_to(uri, dest)
        return dest


def start_service(
    bucket: str,
    issuer: LocalIssuer,
    work_dir: Path,
    *,
    storage_url: str,
    extra_audiences: tuple[str, ...],
    workers: int = SERVICE_WORKERS,
) -> RunningService:
    """The harness's gunicorn, its storage behind ``storage_url``, timeouts shortened."""
    return harness_start_service(
        bucket,
        issuer,
        work_dir,
        extra_audiences=extra_audiences,
        scratch_dir=work_dir / "work",
        extra_env={
            **SERVICE_TUNING,
            "STORAGE_EMULATOR_HOST": storage_url,
            # Overrides the gunicorn config's one worker: two instances' worth on one port.
            "GUNICORN_CMD_ARGS": f"--workers {workers}",
        },
    )


@contextlib.contextmanager
def running_stack(fake_gcs: FakeGcs, root: Path) -> Iterator[RelStack]:
    bucket = fake_gcs.create_bucket()
    storage_proxy, service_proxy = running_proxies(fake_gcs.url)
    with LocalIssuer() as issuer:
        service = start_service(
            bucket,
            issuer,
            root / "svc",
            storage_url=storage_proxy.url,
            extra_audiences=(service_proxy.url,),
        )
        service_proxy.upstream = service.url
        try:
            with render_workflow(
                issuer,
                service_url=service_proxy.url,
                bucket=bucket,
                storage_host=fake_gcs.url,
                sleep=_fast_sleep,
            ) as (emulator, target):
                yield RelStack(
                    bucket,
                    fake_gcs,
                    issuer,
                    service,
                    storage_proxy,
                    service_proxy,
                    emulator,
                    target,
                    root / "svc" / "work",
                )
        finally:
            stop_service(service)
            storage_proxy.stop()
            service_proxy.stop()


# -- checks -----------------------------------------------------------------------------


def expected_keys(render_id: str, chunks: int, *, ext: str = "mp4") -> set[str]:
    prefix = f"renders/{render_id}"
    keys = {f"{prefix}/request.json", f"{prefix}/plan.json", f"{prefix}/result.json"}
    for i in range(chunks):
        keys |= {f"{prefix}/chunks/{i:05d}.{ext}", f"{prefix}/chunks/{i:05d}.json"}
    return keys


def assert_render_correct(
    stack: RelStack,
    handle: framerun.RenderHandle,
    reference: list[Any],
    tmp: Path,
    *,
    chunks: int,
) -> float:
    """The output exists, decodes to the reference's frames (PSNR ≥ 45 dB), and the
    bucket holds exactly the render's objects, each created once. Returns the PSNR."""
    progress = stack.progress(handle)
    assert progress.status == "succeeded", progress
    assert progress.overall_progress == 1.0
    out = stack.download(handle.output_uri, tmp / f"{handle.render_id}.mp4")
    video = decode(out)
    assert len(video.frames) == len(reference), (len(video.frames), len(reference))
    psnr = min_psnr(video.frames, reference)
    assert psnr >= MIN_PSNR_DB, f"min PSNR {psnr:.1f} dB"
    output_key = handle.output_uri.split("/", 3)[3]
    found = set(stack.objects(f"renders/{handle.render_id}/"))
    # The SDK's record of each execution (a resumed render has one per execution).
    records = {key for key in found if EXECUTION_RECORD_KEY.search("/" + key)}
    own = execution_record_uri(stack.bucket, handle.render_id, handle.execution_name)
    assert own.removeprefix(f"gs://{stack.bucket}/") in records, records
    assert found - records == expected_keys(handle.render_id, chunks) | {output_key}, found
    assert_created_once(stack, found)
    return psnr


def assert_created_once(stack: RelStack, keys: set[str]) -> None:
    """No object was ever replaced: at most one upload of each was accepted, and the
    object in the bucket is the generation that upload created."""
    objects = stack.objects()
    for key in keys:
        accepted = [e for e in stack.storage_proxy.uploads(key) if e.status == 200]
        assert len(accepted) <= 1, f"{key} was written {len(accepted)} times"
        if accepted and accepted[0].generation is not None and key in objects:
            assert objects[key][0] == accepted[0].generation, f"{key} was replaced"


def when(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.05)


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
    return out


# -- talking to the service directly (as the workflow would) ------------------------------


def upload_site(stack: RelStack, project: Path, tmp: Path) -> str:
    """The project's site archive in the bucket (content-addressed, like the SDK's)."""
    from framerun_service.render.archive import make_site_archive

    archive = tmp / "site.tar.gz"
    site_id = make_site_archive(project, archive)
    uri = f"gs://{stack.bucket}/sites/{site_id}/site.tar.gz"
    with stack.storage() as store:
        store.upload_file_if_absent(archive, uri, content_type="application/gzip")
    return uri


def post(
    stack: RelStack,
    body: Any = None,
    *,
    token: str | None = "mint",
    data: bytes | None = None,
    content_type: str = "application/json",
    timeout_s: float = 60,
) -> requests.Response:
    """POST / on the service itself (no proxy), with a valid ID token unless told otherwise."""
    headers = {"Content-Type": content_type}
    if token == "mint":
        token = stack.service.token()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    payload = data if data is not None else json.dumps(body).encode()
    return requests.post(stack.service.url + "/", data=payload, headers=headers, timeout=timeout_s)


def assert_typed_error(response: requests.Response, status: int | None = None) -> dict[str, Any]:
    """A 4xx (or the given status) with the error shape and no stack trace in sight."""
    assert "Traceback" not in response.text and 'File "' not in response.text, response.text
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text[:300])
    else:
        assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers.get("Content-Type", "").startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "retryable"}, error
    assert isinstance(error["code"], str) and error["code"].isupper()
    assert isinstance(error["message"], str) and error["retryable"] is False
    return error
