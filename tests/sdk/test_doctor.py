"""``framerun cloudrun doctor`` against a local HTTP server that answers testIamPermissions.

Google's IAM cannot run here, so the transport boundary is faked: a real HTTP
server speaks the three REST methods (Resource Manager, Cloud Storage, Cloud Run),
and the CLI reaches it through real google-auth: ``google.auth.default()`` loads an
authorized-user file (with a token that is still valid, so nothing is refreshed)
and an ``AuthorizedSession`` signs every request with it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner, Result

from framerun.cli import main
from framerun.doctor import CALLER_BUCKET, CALLER_WORKFLOW, DEPLOYER_PROJECT, DEPLOYER_SERVICE

PROJECT = "acme-video"
REGION = "europe-west1"
BUCKET = f"{PROJECT}-framerun-renders"
SERVICE = f"projects/{PROJECT}/locations/{REGION}/services/framerun-render"
TOKEN = "ya29.doctor-test-token"


@dataclass
class FakeIam:
    """What the identity holds on each resource, and every request the server saw."""

    project: set[str] = field(default_factory=set)
    bucket: set[str] | None = field(default_factory=set)  # None: no such bucket
    service: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None
    project_forbidden: bool = False  # how Resource Manager answers an unknown project


@pytest.fixture
def iam() -> Iterator[tuple[FakeIam, str]]:
    state = FakeIam()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest's output clean
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, asked: list[str]) -> None:
            url = urlsplit(self.path)
            state.requests.append(
                {"method": self.command, "path": url.path, "permissions": asked,
                 "authorization": self.headers.get("Authorization")}
            )  # fmt: skip
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
                return
            if state.fail_with:
                self._reply(state.fail_with, {"error": {"code": state.fail_with}})
                return
            held: set[str] | None
            if url.path.startswith("/v1/projects/") and state.project_forbidden:
                self._reply(403, {"error": {"code": 403, "message": "denied"}})
                return
            if url.path == f"/v1/projects/{PROJECT}:testIamPermissions":
                held = state.project
            elif url.path == f"/storage/v1/b/{BUCKET}/iam/testPermissions":
                held = state.bucket
            elif url.path == f"/v2/{SERVICE}:testIamPermissions":
                held = state.service
            else:
                held = None
            if held is None:
                self._reply(404, {"error": {"code": 404, "status": "NOT_FOUND"}})
                return
            granted = [p for p in asked if p in held]
            # Like Google: the key is left out when nothing is granted.
            self._reply(200, {"permissions": granted} if granted else {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            self._answer(body.get("permissions", []))

        def do_GET(self) -> None:
            self._answer(parse_qs(urlsplit(self.path).query).get("permissions", []))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def env(iam: tuple[FakeIam, str], tmp_path: Path) -> dict[str, str]:
    """Application Default Credentials from an authorized-user file, APIs on the fake."""
    _, base = iam
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "framerun-doctor-test.apps.example.com",
                "client_secret": "not-a-secret",
                "refresh_token": "never-used",
                "token": TOKEN,
                "expiry": "2099-01-01T00:00:00Z",
                "account": "alice@example.com",
            }
        ),
        encoding="utf-8",
    )
    return {
        "GOOGLE_APPLICATION_CREDENTIALS": str(adc),
        "FRAMERUN_RESOURCEMANAGER_URL": base,
        "FRAMERUN_STORAGE_API_URL": base,
        "FRAMERUN_RUN_API_URL": base,
        "FRAMERUN_DEPLOY_DIR": str(tmp_path / "deployments"),
        "FRAMERUN_PROJECT": "",
        "FRAMERUN_REGION": "",
        "FRAMERUN_BUCKET": "",
        "FRAMERUN_OUTPUTS_FILE": "",
        "FRAMERUN_TERRAFORM_DIR": "",
    }


@pytest.fixture
def outputs_file(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    values = {
        "render_bucket_name": BUCKET,
        "service_url": f"https://framerun-render-123456789012.{REGION}.run.app",
        "workflow_name": f"projects/{PROJECT}/locations/{REGION}/workflows/framerun-render",
        "region": REGION,
    }
    path.write_text(json.dumps({k: {"value": v} for k, v in values.items()}), encoding="utf-8")
    return path


def _doctor(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, ["cloudrun", "doctor", *args], env=env)


def _names(needs: tuple[Any, ...]) -> set[str]:
    return {need.permission for need in needs}


def test_doctor_names_each_missing_permission_and_its_role(
    iam: tuple[FakeIam, str], env: dict[str, str], outputs_file: Path
) -> None:
    state, _ = iam
    state.project = {"workflows.executions.create", "workflows.executions.get"}
    state.bucket = {"storage.objects.get", "storage.objects.list"}

    result = _doctor(["--outputs-file", str(outputs_file)], env)

    assert result.exit_code == 1, result.output
    out = result.output
    assert "alice@example.com" in out
    assert f"workflows.executions.cancel on project {PROJECT}: grant roles/workflows.invoker" in out
    for permission in ("storage.objects.create", "storage.objects.delete"):
        assert f"{permission} on bucket gs://{BUCKET}: grant roles/storage.objectUser" in out
    for held in ("workflows.executions.create", "storage.objects.get", "storage.objects.list"):
        assert f"{held} on" not in out
    assert "3 permissions missing" in out
    assert "tested on the project: Workflows has no testIamPermissions" in out
    # What was asked, and how: signed with the ADC token, each resource by its REST path.
    assert {r["authorization"] for r in state.requests} == {f"Bearer {TOKEN}"}
    asked = {r["path"]: set(r["permissions"]) for r in state.requests}
    assert asked == {
        f"/v1/projects/{PROJECT}:testIamPermissions": _names(CALLER_WORKFLOW),
        f"/storage/v1/b/{BUCKET}/iam/testPermissions": _names(CALLER_BUCKET),
    }


def test_doctor_exits_0_when_nothing_is_missing(
    iam: tuple[FakeIam, str], env: dict[str, str], outputs_file: Path
) -> None:
    state, _ = iam
    state.project = _names(CALLER_WORKFLOW)
    state.bucket = _names(CALLER_BUCKET)
    result = _doctor(["--outputs-file", str(outputs_file)], env)
    assert result.exit_code == 0, result.output
    assert "nothing is missing" in result.output


def test_doctor_deploy_tests_the_service_and_the_deployer_roles(
    iam: tuple[FakeIam, str], env: dict[str, str], outputs_file: Path
) -> None:
    state, _ = iam
    state.project = _names(CALLER_WORKFLOW) | _names(DEPLOYER_PROJECT) - {
        "cloudbuild.builds.create"
    }
    state.bucket = None  # destroyed, or never deployed
    state.service = _names(DEPLOYER_SERVICE) - {"run.services.delete"}

    result = _doctor(["--outputs-file", str(outputs_file), "--deploy"], env)

    assert result.exit_code == 1, result.output
    out = result.output
    assert (
        f"cloudbuild.builds.create on project {PROJECT}: grant roles/cloudbuild.builds.editor"
        in out
    )
    assert f"run.services.delete on service {SERVICE}: grant roles/run.admin" in out
    assert f"bucket   gs://{BUCKET}: 7 of 7 missing (not found" in out
    assert f"/v2/{SERVICE}:testIamPermissions" in {r["path"] for r in state.requests}


def test_doctor_before_a_deploy_tests_the_project_only(
    iam: tuple[FakeIam, str], env: dict[str, str]
) -> None:
    state, _ = iam
    state.project = _names(CALLER_WORKFLOW) | _names(DEPLOYER_PROJECT)
    result = _doctor(["--project", PROJECT, "--deploy"], env)
    assert result.exit_code == 0, result.output
    assert [r["path"] for r in state.requests] == [f"/v1/projects/{PROJECT}:testIamPermissions"]


def test_doctor_reads_the_outputs_deploy_saved(
    iam: tuple[FakeIam, str], env: dict[str, str], outputs_file: Path
) -> None:
    state, _ = iam
    state.project = _names(CALLER_WORKFLOW)
    saved = Path(env["FRAMERUN_DEPLOY_DIR"]) / f"{PROJECT}.{REGION}.framerun"
    saved.mkdir(parents=True)
    (saved / "outputs.json").write_bytes(outputs_file.read_bytes())
    result = _doctor(["--project", PROJECT, "--region", REGION], env)
    assert result.exit_code == 1
    assert f"storage.objects.create on bucket gs://{BUCKET}" in result.output


def test_an_api_failure_is_a_typed_error(
    iam: tuple[FakeIam, str], env: dict[str, str], outputs_file: Path
) -> None:
    state, _ = iam
    state.fail_with = 503
    result = _doctor(["--outputs-file", str(outputs_file)], env)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].endswith("[PERMISSION_CHECK_FAILED]")
    assert "HTTP 503" in result.output


def test_doctor_without_a_target_says_what_to_pass(env: dict[str, str]) -> None:
    result = _doctor([], env)
    assert result.exit_code == 2
    assert "--outputs-file" in result.output and "[TARGET_NOT_CONFIGURED]" in result.output


def test_a_project_without_access_lacks_everything(
    iam: tuple[FakeIam, str], env: dict[str, str]
) -> None:
    state, _ = iam
    state.project_forbidden = True
    result = _doctor(["--project", "no-such-project"], env)
    assert result.exit_code == 1
    assert "no-such-project: 3 of 3 missing (no access at all" in result.output
