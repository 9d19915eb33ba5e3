"""``framerun cloudrun deploy`` / ``destroy`` against fake gcloud and terraform on PATH.

The fakes (tests/sdk/deploy_fakes.py) record every command and keep a state, so
these tests check the order of the commands, that a second deploy builds nothing
and changes nothing, and that destroy keeps the bucket unless told otherwise.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from framerun.cli import main
from framerun.deploy_source import DeploySource, content_tag
from framerun.target import CloudRunTarget
from tests.sdk.deploy_fakes import commands, fake_env, read_log, write_fakes

REPO = Path(__file__).resolve().parents[2]
PROJECT = "acme-video"
REGION = "europe-west1"
ARGS = ["--project", PROJECT, "--region", REGION]

FIRST_DEPLOY = [
    "gcloud config get-value account",
    "gcloud services enable",
    "gcloud artifacts repositories describe framerun",
    "gcloud artifacts repositories create framerun",
    "gcloud artifacts docker images describe",
    "gcloud builds submit",
    "terraform init",
    "terraform apply",
    "terraform output",
]
SECOND_DEPLOY = [
    "gcloud config get-value account",
    "gcloud services enable",
    "gcloud artifacts repositories describe framerun",
    "gcloud artifacts docker images describe",
    "terraform init",
    "terraform apply",
    "terraform output",
]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A minimal framerun checkout: the real Dockerfile, module and workflow, one source file."""
    root = tmp_path / "src"
    (root / "terraform").mkdir(parents=True)
    (root / "workflows").mkdir()
    (root / "sdk").mkdir()
    shutil.copy(REPO / "Dockerfile", root / "Dockerfile")
    for tf in (REPO / "terraform").glob("*.tf"):
        shutil.copy(tf, root / "terraform" / tf.name)
    shutil.copy(REPO / "workflows" / "render.yaml", root / "workflows" / "render.yaml")
    (root / "sdk" / "app.py").write_text("VERSION = 1\n", encoding="utf-8")
    return root


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    write_fakes(tmp_path / "bin")
    return fake_env(tmp_path)


def _run(args: list[str], env: dict[str, str], input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["cloudrun", *args], env=env, input=input)


def _deploy(source: Path, env: dict[str, str], *extra: str) -> Result:
    return _run(["deploy", *ARGS, "--source", str(source), *extra], env)


def _log(env: dict[str, str]) -> list[dict[str, object]]:
    return read_log(Path(env["FAKE_LOG"]))


def _clear_log(env: dict[str, str]) -> None:
    Path(env["FAKE_LOG"]).unlink(missing_ok=True)


def _deployment(env: dict[str, str]) -> Path:
    return Path(env["FRAMERUN_DEPLOY_DIR"]) / f"{PROJECT}.{REGION}.framerun"


def test_deploy_runs_the_steps_in_order_and_saves_the_outputs(
    source: Path, env: dict[str, str]
) -> None:
    result = _deploy(source, env, "--var", "cpu=8")
    assert result.exit_code == 0, result.output
    log = _log(env)
    assert commands(log) == FIRST_DEPLOY

    image = (
        f"{REGION}-docker.pkg.dev/{PROJECT}/framerun/framerun:{content_tag(DeploySource(source))}"
    )
    build = log[5]["argv"]
    assert build == [
        "builds", "submit", str(source), "--tag", image, "--project", PROJECT, "--quiet"
    ]  # fmt: skip
    apply = log[7]
    terraform_dir = _deployment(env) / "terraform"
    assert apply["cwd"] == str(terraform_dir)
    assert apply["argv"] == [
        "apply", "-auto-approve", "-input=false",
        "-var", f"project_id={PROJECT}", "-var", f"region={REGION}",
        "-var", "name_prefix=framerun", "-var", f"image={image}",
        "-var", 'caller_members=["user:dev@example.com"]', "-var", "cpu=8",
    ]  # fmt: skip
    # The deployment's own copy of the module, with the workflow where the module reads it.
    assert (terraform_dir / "workflows.tf").read_bytes() == (
        source / "terraform" / "workflows.tf"
    ).read_bytes()
    assert (terraform_dir.parent / "workflows" / "render.yaml").is_file()

    for n, header in enumerate(["enabling", "image repository", "building image",
                                "terraform init", "terraform apply"], start=1):  # fmt: skip
        assert f"[{n}/5] {header}" in result.output
    outputs_file = _deployment(env) / "outputs.json"
    target = CloudRunTarget.from_outputs_file(outputs_file)
    assert target.bucket_name == f"{PROJECT}-framerun-renders"
    assert target.project_id == PROJECT and target.location == REGION
    for value in (target.bucket_name, target.service_url, target.workflow_path, str(outputs_file)):
        assert value in result.output


def test_a_second_deploy_builds_nothing_and_changes_nothing(
    source: Path, env: dict[str, str]
) -> None:
    assert _deploy(source, env).exit_code == 0
    state = _deployment(env) / "terraform" / "terraform.tfstate"
    before = state.read_bytes()
    _clear_log(env)

    again = _deploy(source, env)
    assert again.exit_code == 0, again.output
    assert commands(_log(env)) == SECOND_DEPLOY  # no create, no build
    assert "skipping the build" in again.output
    assert "No changes." in again.output
    assert state.read_bytes() == before

    # A changed source is a new tag: built and applied.
    (source / "sdk" / "app.py").write_text("VERSION = 2\n", encoding="utf-8")
    _clear_log(env)
    changed = _deploy(source, env)
    assert changed.exit_code == 0, changed.output
    assert "gcloud builds submit" in commands(_log(env))
    assert "1 changed" in changed.output


def test_destroy_keeps_the_bucket_and_the_next_deploy_adopts_it(
    source: Path, env: dict[str, str]
) -> None:
    assert _deploy(source, env).exit_code == 0
    _clear_log(env)

    result = _run(["destroy", *ARGS, "--yes"], env)
    assert result.exit_code == 0, result.output
    log = _log(env)
    assert commands(log) == [
        "terraform init",
        "terraform state list",
        "terraform state rm",
        "terraform destroy",
        "gcloud artifacts repositories delete framerun",
    ]
    assert log[2]["argv"] == ["state", "rm", "google_storage_bucket.renders"]
    assert f"kept the render bucket gs://{PROJECT}-framerun-renders" in result.output
    assert f"gcloud storage rm --recursive gs://{PROJECT}-framerun-renders" in result.output
    assert not (_deployment(env) / "outputs.json").exists()

    # Deploying again takes the kept bucket back instead of failing to create it.
    _clear_log(env)
    env = {**env, "FAKE_BUCKET_EXISTS": "1"}
    again = _deploy(source, env)
    assert again.exit_code == 0, again.output
    names = commands(_log(env))
    assert names.index("terraform import") < names.index("terraform apply")
    assert _log(env)[names.index("terraform import")]["argv"][-2:] == [
        "google_storage_bucket.renders",
        f"{PROJECT}/{PROJECT}-framerun-renders",
    ]


def test_destroy_delete_bucket_lets_terraform_empty_it(source: Path, env: dict[str, str]) -> None:
    assert _deploy(source, env).exit_code == 0
    _clear_log(env)

    result = _run(["destroy", *ARGS, "--yes", "--delete-bucket"], env)
    assert result.exit_code == 0, result.output
    log = _log(env)
    assert commands(log) == [
        "terraform init",
        "terraform apply",
        "terraform destroy",
        "gcloud artifacts repositories delete framerun",
    ]
    assert "bucket_force_destroy=true" in log[1]["argv"]
    assert "bucket_force_destroy=true" in log[2]["argv"]
    assert "kept the render bucket" not in result.output


def test_destroy_asks_first_and_stops_on_no(source: Path, env: dict[str, str]) -> None:
    assert _deploy(source, env).exit_code == 0
    _clear_log(env)
    result = _run(["destroy", *ARGS], env, input="n\n")
    assert result.exit_code == 1
    assert "destroy framerun in" in result.output
    assert _log(env) == []


def test_destroy_without_a_deployment_says_so(env: dict[str, str]) -> None:
    result = _run(["destroy", *ARGS, "--yes"], env)
    assert result.exit_code == 2
    assert "nothing to destroy" in result.output and "[TARGET_NOT_CONFIGURED]" in result.output


@pytest.mark.parametrize("missing", ["gcloud", "terraform"])
def test_a_missing_tool_is_one_typed_line(
    missing: str, source: Path, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "bin" / missing).unlink()
    result = _deploy(source, env)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {missing} is not on PATH: install ")
    assert lines[0].endswith("[TOOL_NOT_FOUND]")
    assert _log(env) == []


def test_a_failing_step_names_the_step_and_its_last_stderr_line(
    source: Path, env: dict[str, str]
) -> None:
    result = _deploy(source, {**env, "FAKE_FAIL": "terraform apply"})
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last == (
        "error: terraform apply failed: `terraform apply` exited 1: "
        "Error: googleapi: Error 403: Permission denied on resource [DEPLOY_STEP_FAILED]"
    )
    assert commands(_log(env))[-1] == "terraform apply"


def test_bad_input_is_refused_before_any_command(
    source: Path, env: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run(["deploy", *ARGS, "--source", str(empty)], env)
    assert result.exit_code == 2 and "[DEPLOY_SOURCE_NOT_FOUND]" in result.output
    assert "Dockerfile" in result.output

    result = _deploy(source, env, "--var", "image=elsewhere")
    assert result.exit_code == 2 and "[INVALID_CONFIG]" in result.output

    result = _deploy(source, env, "--name-prefix", "Bad_Prefix")
    assert result.exit_code == 2 and "[INVALID_CONFIG]" in result.output
    assert _log(env) == []


def test_the_saved_record_names_what_destroy_needs(source: Path, env: dict[str, str]) -> None:
    assert _deploy(source, env, "--caller", "group:team@example.com").exit_code == 0
    record = json.loads((_deployment(env) / "deploy.json").read_text(encoding="utf-8"))
    assert record["created_repository"] is True
    assert record["variables"]["caller_members"] == '["group:team@example.com"]'
    # --caller given: gcloud's account is not asked.
    assert "gcloud config get-value account" not in commands(_log(env))


def test_destroy_after_a_failed_deploy_removes_what_was_made(
    source: Path, env: dict[str, str]
) -> None:
    # The build failed: only the repository exists, and only it is deleted.
    failed = _deploy(source, {**env, "FAKE_FAIL": "gcloud builds submit"})
    assert failed.exit_code == 1 and "[DEPLOY_STEP_FAILED]" in failed.output
    _clear_log(env)
    result = _run(["destroy", *ARGS, "--yes"], env)
    assert result.exit_code == 0, result.output
    assert commands(_log(env)) == ["gcloud artifacts repositories delete framerun"]

    # Applied, but the outputs were never saved: the kept bucket is named from the state.
    failed = _deploy(source, {**env, "FAKE_FAIL": "terraform output"})
    assert failed.exit_code == 1 and "[DEPLOY_STEP_FAILED]" in failed.output
    assert not (_deployment(env) / "outputs.json").exists()
    result = _run(["destroy", *ARGS, "--yes"], env)
    assert result.exit_code == 0, result.output
    assert f"kept the render bucket gs://{PROJECT}-framerun-renders" in result.output
