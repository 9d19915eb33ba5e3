"""``framerun cloudrun …`` through click's CliRunner, with the fakes injected as seams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from framerun.cli import main
from framerun.cli_cloudrun import CloudRunSeams
from framerun.target import CloudRunTarget
from framerun_service.core.storage import Storage
from tests.sdk.fakes import FakeExecutions, State


def _env(target: CloudRunTarget) -> dict[str, str]:
    return {
        "FRAMERUN_BUCKET": target.bucket_name,
        "FRAMERUN_PROJECT": target.project_id,
        "FRAMERUN_REGION": target.location,
        "FRAMERUN_WORKFLOW": target.workflow_id,
        "FRAMERUN_SERVICE_URL": target.service_url,
    }


def _run(args: list[str], seams: CloudRunSeams, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["cloudrun", *args], obj=seams, env=env)


@pytest.fixture
def seams(fake: FakeExecutions, storage: Storage) -> CloudRunSeams:
    return CloudRunSeams(executions=fake, storage=storage)


def test_render_prints_the_execution(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, seams: CloudRunSeams
) -> None:
    result = _run(["render", str(project), "--variables", '{"title": "CLI"}'], seams, _env(target))
    assert result.exit_code == 0, result.output
    (name,) = fake.executions
    assert f"framerun cloudrun progress {name}" in result.stdout

    result = _run(["render", str(project), "--json"], seams, _env(target))
    assert result.exit_code == 0, result.output
    handle = json.loads(result.stdout)
    assert handle["executionName"] in fake.executions and handle["renderId"].startswith("r-")


def test_render_wait_json_and_summary(
    project: Path, target: CloudRunTarget, storage: Storage
) -> None:
    seams = CloudRunSeams(executions=FakeExecutions(polls_to_finish=1), storage=storage)
    args = ["render", str(project), "--wait", "--poll-interval", "0"]
    result = _run([*args, "--json"], seams, _env(target))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "succeeded"

    result = _run(args, seams, _env(target))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert f"→ gs://{target.bucket_name}/renders/r-" in result.stdout and "est. " in result.stdout


def test_render_wait_failure_is_one_line_with_the_code(
    project: Path, target: CloudRunTarget, storage: Storage
) -> None:
    payload = {"code": "PAGE_SCRIPT_ERROR", "message": "boom", "httpStatus": 422, "step": "plan"}
    fake = FakeExecutions(polls_to_finish=1, outcome=lambda e: (State.FAILED, payload))
    seams = CloudRunSeams(executions=fake, storage=storage)
    result = _run(["render", str(project), "--wait", "--poll-interval", "0"], seams, _env(target))
    assert result.exit_code == 2  # a 4xx failure: the input's fault
    (execution,) = fake.executions.values()
    render_id = json.loads(execution.argument)["renderId"]
    assert result.stderr.splitlines() == [
        f"error: render {render_id} failed in plan: boom [PAGE_SCRIPT_ERROR]"
    ]


def test_bad_config_exits_2_with_one_line(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, seams: CloudRunSeams
) -> None:
    result = _run(["render", str(project), "--config-json", '{"width": 333}'], seams, _env(target))
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert (
        result.stderr.startswith("error: width 333 is odd") and "[INVALID_CONFIG]" in result.stderr
    )
    result = _run(["render", str(project), "--config-json", "[1]"], seams, _env(target))
    assert result.exit_code == 2 and "must be a JSON object" in result.stderr
    assert fake.calls == []


def test_an_output_key_whose_suffix_names_no_format_is_refused(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, seams: CloudRunSeams
) -> None:
    """``--output-key v.avi`` would be an MP4 under a .avi name: refused before any upload."""
    args = ["render", str(project), "--output-key", "videos/v.avi"]
    result = _run(args, seams, _env(target))
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.endswith("[INVALID_CONFIG]") and ".avi" in line and ".mp4, .webm" in line
    assert fake.calls == []


def test_missing_target_names_what_to_set(project: Path, seams: CloudRunSeams) -> None:
    result = _run(["render", str(project)], seams, {"FRAMERUN_BUCKET": "b"})
    assert result.exit_code == 2
    assert "[TARGET_NOT_CONFIGURED]" in result.stderr and "--workflow" in result.stderr


def test_outputs_file_and_flags(
    project: Path,
    target: CloudRunTarget,
    fake: FakeExecutions,
    seams: CloudRunSeams,
    tmp_path: Path,
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "render_bucket_name": {"value": target.bucket_name},
                "service_url": {"value": target.service_url},
                "workflow_name": {"value": "projects/p/locations/l/workflows/from-file"},
                "region": {"value": "l"},
            }
        )
    )
    # A flag beats the file, which beats the environment.
    env = {"FRAMERUN_WORKFLOW": "from-env", "FRAMERUN_PROJECT": "env-project"}
    result = _run(["render", str(project), "--outputs-file", str(outputs)], seams, env)
    assert result.exit_code == 0, result.output
    assert fake.creates() == ["projects/p/locations/l/workflows/from-file"]
    args = ["render", str(project), "--outputs-file", str(outputs), "--workflow", "from-flag"]
    result = _run(args, seams, env)
    assert result.exit_code == 0, result.output
    assert fake.creates()[-1] == "projects/p/locations/l/workflows/from-flag"


def test_progress(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, seams: CloudRunSeams
) -> None:
    _run(["render", str(project)], seams, _env(target))
    (name,) = fake.executions
    result = _run(["progress", name, "--json"], seams)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "running" and data["executionName"] == name
    assert data["overallProgress"] == 0.0

    fake.finish(
        name, State.FAILED, payload={"code": "CHUNK_MISMATCH", "message": "m", "step": "assemble"}
    )
    result = _run(["progress", name], seams)
    assert result.exit_code == 0, result.output
    assert (
        "failed (FAILED)" in result.stdout
        and "error in assemble: m [CHUNK_MISMATCH]" in result.stdout
    )

    result = _run(["progress", "projects/p/locations/l/workflows/w/executions/nope"], seams)
    assert result.exit_code == 2 and "[EXECUTION_NOT_FOUND]" in result.stderr


def test_cancel_then_resume_reuses_the_render_id(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, seams: CloudRunSeams
) -> None:
    started = json.loads(_run(["render", str(project), "--json"], seams, _env(target)).stdout)
    name = started["executionName"]
    result = _run(["cancel", name], seams, _env(target))
    assert result.exit_code == 0, result.output
    assert ("cancel", name) in fake.calls
    assert "cancelled (CANCELLED)" in _run(["progress", name], seams).stdout

    result = _run(["resume", name, "--json"], seams, _env(target))
    assert result.exit_code == 0, result.output
    resumed = json.loads(result.stdout)
    assert resumed["renderId"] == started["renderId"]
    assert resumed["outputUri"] == started["outputUri"]
    assert resumed["executionName"] != name and resumed["executionName"] in fake.executions

    # A running render cannot be resumed: one line, its code, exit 2.
    result = _run(["resume", resumed["executionName"]], seams, _env(target))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output


def test_sites_create(project: Path, target: CloudRunTarget, seams: CloudRunSeams) -> None:
    result = _run(["sites", "create", str(project), "--bucket", target.bucket_name], seams)
    assert result.exit_code == 0, result.output
    assert "uploaded" in result.stdout and "already" not in result.stdout
    result = _run(["sites", "create", str(project), "--json"], seams, _env(target))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["uploaded"] is False
    result = _run(["sites", "create", str(project)], seams)
    assert result.exit_code == 2 and "--bucket" in result.stderr


def test_render_batch_dry_run(
    project: Path,
    target: CloudRunTarget,
    fake: FakeExecutions,
    seams: CloudRunSeams,
    tmp_path: Path,
) -> None:
    batch = tmp_path / "batch.jsonl"
    batch.write_text('{"outputKey": "a.mp4"}\nnot json\n{"variables": {}}\n')
    args = ["render-batch", str(project), "--batch", str(batch), "--dry-run"]
    result = _run(args, seams, _env(target))
    assert result.exit_code == 2
    assert "line 2 (?): invalid: not valid JSON" in result.stdout
    assert "line 3 (?): invalid:" in result.stdout and "outputKey" in result.stdout
    assert "dry run: 2 invalid, 1 valid" in result.stdout
    assert result.stderr.startswith("error: batch file has 2 invalid lines")
    assert "[BATCH_INVALID]" in result.stderr

    result = _run([*args, "--json"], seams, _env(target))
    report = json.loads(result.stdout)
    assert [line["status"] for line in report["lines"]] == ["valid", "invalid", "invalid"]
    assert fake.calls == []


def test_render_batch_runs(
    project: Path, target: CloudRunTarget, storage: Storage, tmp_path: Path
) -> None:
    fake = FakeExecutions(polls_to_finish=1)
    seams = CloudRunSeams(executions=fake, storage=storage)
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps({"outputKey": f"o/{i}.mp4"}) + "\n" for i in range(3)))
    args = ["render-batch", str(project), "--batch", str(batch), "--max-concurrent", "2"]
    result = _run([*args, "--poll-interval", "0"], seams, _env(target))
    assert result.exit_code == 0, result.output
    assert "batch: 3 succeeded" in result.stdout
    assert len(fake.creates()) == 3


def test_every_option_has_an_env_var() -> None:
    import click

    from framerun.cli_cloudrun import cloudrun

    def commands(group: click.Group) -> list[click.Command]:
        found: list[click.Command] = []
        for command in group.commands.values():
            found += commands(command) if isinstance(command, click.Group) else [command]
        return found

    for command in commands(cloudrun):
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and param.name != "help":
                assert param.envvar, f"{command.name} --{param.name} has no envvar"
