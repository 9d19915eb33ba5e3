"""Run the real service under gunicorn on loopback for end-to-end tests."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from framerun.local.issuer import LocalIssuer
from framerun.local.stack import free_port, service_argv, service_environment

REPO = Path(__file__).resolve().parents[2]
INVOKER = "workflow-invoker@framerun-test.iam.gserviceaccount.com"


@dataclass
class RunningService:
    url: str
    bucket: str
    issuer: LocalIssuer
    process: subprocess.Popen[bytes]
    log_path: Path

    def token(self, **changes: Any) -> str:
        return self.issuer.mint(self.url, INVOKER, **changes)

    def post(
        self, body: Any, *, token: str | None = "mint", timeout: float = 300
    ) -> requests.Response:
        headers = {}
        if token == "mint":
            token = self.token()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(self.url + "/", json=body, headers=headers, timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


WEBHOOK_SECRET = "test-webhook-secret"


def start_service(
    bucket: str,
    issuer: LocalIssuer,
    work_dir: Path,
    *,
    extra_audiences: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
    scratch_dir: Path | None = None,
) -> RunningService:
    """gunicorn with the package's gunicorn config, configured exactly as Cloud Run would be.

    ``extra_audiences``: more accepted token audiences (e.g. a test proxy's URL).
    ``extra_env``: settings on top (timeouts, storage endpoint, worker count).
    ``scratch_dir``: FRAMERUN_WORK_DIR, when it must differ from ``work_dir`` (the log's).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **service_environment(
            port=port,
            bucket=bucket,
            audiences=(url, *extra_audiences),
            issuer_url=issuer.url,
            certs_url=issuer.certs_url,
            work_dir=scratch_dir or work_dir,
            webhook_secret=WEBHOOK_SECRET,
            invoker=INVOKER,
        ),
        **(extra_env or {}),
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            service_argv(port),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=work_dir,
        )
    deadline = time.monotonic() + 60  # generous: CI machines are busy
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log_path.read_text()}")
        try:
            if requests.get(url + "/healthz", timeout=2).ok:
                return RunningService(url, bucket, issuer, process, log_path)
        except requests.RequestException:  # refused, or a read timeout under load
            time.sleep(0.1)
    process.kill()
    process.wait(timeout=10)
    raise RuntimeError(f"gunicorn did not become healthy: {log_path.read_text()}")


def stop_service(service: RunningService) -> None:
    service.process.terminate()
    try:
        service.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        service.process.kill()


def forge_token(header: dict[str, Any], claims: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    """An RS256 JWT with any header and claims, signed by ``key`` (for attack cases)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture(scope="module")
def service(fake_gcs: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A gunicorn service on its own bucket, for one test module."""
    bucket = fake_gcs.create_bucket()
    with LocalIssuer() as issuer:
        running = start_service(bucket, issuer, tmp_path_factory.mktemp("service"))
        try:
            yield running
        finally:
            stop_service(running)


def upload_site(service: RunningService, project: Path, work: Path) -> str:
    """Archive ``project`` as the SDK would and store it in the service's bucket."""
    from framerun_service.core.storage import Storage
    from framerun_service.render.archive import make_site_archive

    work.mkdir(parents=True, exist_ok=True)
    archive = work / "site.tar.gz"
    site_id = make_site_archive(project, archive)
    uri = f"gs://{service.bucket}/sites/{site_id}/site.tar.gz"
    with Storage.from_env() as store:
        store.upload_file_if_absent(archive, uri, content_type="application/gzip")
    return uri
