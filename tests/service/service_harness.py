"""Run the real service under gunicorn on loopback for end-to-end tests."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from framerun.local.issuer import LocalIssuer
from framerun.local.stack import free_port, service_environment

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
    bucket: str, issuer: LocalIssuer, work_dir: Path, *, extra_audiences: tuple[str, ...] = ()
) -> RunningService:
    """gunicorn with the repo's gunicorn.conf.py, configured exactly as Cloud Run would be.

    ``extra_audiences``: more accepted token audiences (e.g. a test proxy's URL).
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
            work_dir=work_dir,
            webhook_secret=WEBHOOK_SECRET,
            invoker=INVOKER,
        ),
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "gunicorn.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(gunicorn), "-c", str(REPO / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}"],
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
