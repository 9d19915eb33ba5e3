"""CloudRunTarget from the environment, terraform outputs and outputs files; the client."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from google.api_core import exceptions as api_exceptions

from framerun.executions import executions_client, translated, workflow_path
from framerun.target import CloudRunTarget
from framerun_service.core.errors import (
    ExecutionNotFoundError,
    TargetNotConfiguredError,
    WorkflowNotFoundError,
    WorkflowsAccessDeniedError,
    WorkflowsUnavailableError,
)

ENV = {
    "FRAMERUN_BUCKET": "renders-b",
    "FRAMERUN_PROJECT": "proj",
    "FRAMERUN_REGION": "us-central1",
    "FRAMERUN_WORKFLOW": "framerun-render",
    "FRAMERUN_SERVICE_URL": "https://svc.a.run.app",
}
OUTPUTS = {
    "render_bucket_name": {"value": "renders-b", "type": "string", "sensitive": False},
    "service_url": {"value": "https://svc.a.run.app", "type": "string", "sensitive": False},
    "workflow_name": {"value": "projects/proj/locations/europe-west1/workflows/framerun-render"},
    "region": {"value": "europe-west1"},
}


def test_from_env() -> None:
    target = CloudRunTarget.from_env(ENV)
    assert target == CloudRunTarget(
        "renders-b", "proj", "us-central1", "framerun-render", "https://svc.a.run.app"
    )
    assert workflow_path(target) == "projects/proj/locations/us-central1/workflows/framerun-render"
    assert CloudRunTarget.from_json(target.to_json()) == target


def test_from_env_names_every_missing_value_and_how_to_set_it() -> None:
    env = {k: v for k, v in ENV.items() if k not in ("FRAMERUN_BUCKET", "FRAMERUN_SERVICE_URL")}
    with pytest.raises(TargetNotConfiguredError) as caught:
        CloudRunTarget.from_env(env)
    message = caught.value.message
    assert "bucket_name" in message and "FRAMERUN_BUCKET" in message and "--bucket" in message
    assert "service_url" in message and "FRAMERUN_SERVICE_URL" in message
    assert "project_id" not in message


def test_full_workflow_name_pins_project_and_region() -> None:
    env = {
        **ENV,
        "FRAMERUN_WORKFLOW": "projects/p2/locations/asia-east1/workflows/w",
        "FRAMERUN_PROJECT": "",
    }
    target = CloudRunTarget.from_env(env)
    assert (target.project_id, target.location, target.workflow_id) == ("p2", "asia-east1", "w")
    with pytest.raises(TargetNotConfiguredError, match="resource name"):
        CloudRunTarget.from_env({**ENV, "FRAMERUN_WORKFLOW": "a/b"})


def test_from_outputs_file_in_the_local_stack_shape(tmp_path: Path) -> None:
    local = {
        **OUTPUTS,
        "executions_endpoint": {"value": "127.0.0.1:50051"},
        "storage_emulator_host": {"value": "http://127.0.0.1:4443"},
    }
    file = tmp_path / "outputs.json"
    file.write_text(json.dumps(local))
    target = CloudRunTarget.from_outputs_file(file, environ={})
    assert target.project_id == "proj" and target.location == "europe-west1"
    assert target.executions_endpoint == "127.0.0.1:50051"
    assert target.storage_emulator_host == "http://127.0.0.1:4443"


def test_from_outputs_short_workflow_name_needs_a_project(tmp_path: Path) -> None:
    outputs = {**OUTPUTS, "workflow_name": {"value": "framerun-render"}}
    with pytest.raises(TargetNotConfiguredError, match="FRAMERUN_PROJECT"):
        CloudRunTarget.from_outputs(outputs, environ={})
    target = CloudRunTarget.from_outputs(outputs, environ={"FRAMERUN_PROJECT": "proj"})
    assert target.workflow_path == "projects/proj/locations/europe-west1/workflows/framerun-render"
    with pytest.raises(TargetNotConfiguredError, match="cannot read"):
        CloudRunTarget.from_outputs_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(TargetNotConfiguredError, match="object"):
        CloudRunTarget.from_outputs_file(tmp_path / "bad.json")


def _fake_terraform(folder: Path, script: str) -> None:
    binary = folder / "terraform"
    binary.write_text("#!/bin/sh\n" + script)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)


def test_from_terraform_runs_terraform_output_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir, infra = tmp_path / "bin", tmp_path / "infra"
    bin_dir.mkdir()
    infra.mkdir()
    (infra / "outputs.json").write_text(json.dumps(OUTPUTS))
    _fake_terraform(bin_dir, '[ "$1 $2" = "output -json" ] && exec cat outputs.json\nexit 3\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    target = CloudRunTarget.from_terraform(infra)
    assert target.bucket_name == "renders-b" and target.workflow_id == "framerun-render"

    _fake_terraform(bin_dir, 'echo "Error: No state file" >&2\nexit 1\n')
    with pytest.raises(TargetNotConfiguredError, match=r"No state file.*terraform apply"):
        CloudRunTarget.from_terraform(infra)


def test_from_terraform_without_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetNotConfiguredError, match="terraform is not on PATH"):
        CloudRunTarget.from_terraform(tmp_path)


def test_emulator_endpoint_uses_the_same_client_class_over_grpc() -> None:
    from google.cloud.workflows.executions_v1 import ExecutionsClient
    from google.cloud.workflows.executions_v1.services.executions.transports import (
        ExecutionsGrpcTransport,
    )

    target = CloudRunTarget.from_env({**ENV, "FRAMERUN_EXECUTIONS_ENDPOINT": "127.0.0.1:1"})
    with executions_client(target) as client:
        assert type(client) is ExecutionsClient
        assert isinstance(client.transport, ExecutionsGrpcTransport)


@pytest.mark.parametrize(
    ("raised", "action", "expected"),
    [
        (api_exceptions.NotFound("x"), "start an execution of", WorkflowNotFoundError),
        (api_exceptions.NotFound("x"), "read execution", ExecutionNotFoundError),
        (api_exceptions.PermissionDenied("x"), "read execution", WorkflowsAccessDeniedError),
        (api_exceptions.ServiceUnavailable("x"), "read execution", WorkflowsUnavailableError),
        (api_exceptions.TooManyRequests("x"), "read execution", WorkflowsUnavailableError),
    ],
)
def test_api_errors_become_framerun_errors(
    raised: Exception, action: str, expected: type[Exception]
) -> None:
    with pytest.raises(expected), translated(action, "projects/p/locations/l/workflows/w"):
        raise raised
