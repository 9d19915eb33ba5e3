"""render_batch: every line checked first, then at most max_concurrent executions at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.cloud.workflows.executions_v1 import Execution

from framerun.batch import BatchLineResult, BatchReport, render_batch
from framerun.render_request import MAX_REQUEST_BYTES
from framerun.target import CloudRunTarget
from framerun_service.core.errors import BatchInvalidError, WorkflowsUnavailableError
from framerun_service.core.storage import Storage
from tests.sdk.fakes import CountingStorage, FakeExecutions, State


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def _mixed(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "batch.jsonl",
        [
            {"outputKey": "videos/1.mp4", "variables": {"title": "One"}},  # 1 ok
            '{"outputKey": "videos/2.mp4", "variables": {',  # 2 bad JSON
            {"variables": {"title": "Three"}},  # 3 no outputKey
            "",  # 4 blank: skipped
            {"outputKey": "videos/5.mp4", "variables": {"count": "five"}},  # 5 wrong type
            {"outputKey": "videos/6.mp4", "variables": {"titel": "typo"}},  # 6 unknown id
            {"outputKey": "../escape.mp4"},  # 7 bad key
            {"outputKey": "videos/1.mp4"},  # 8 duplicate key
            {"outputKey": "videos/9.mp4", "config": {"width": 333}},  # 9 bad config
            {"outputKey": "videos/10.mp4", "config": {"chunkSize": 10}, "variables": {"count": 3}},
            {"outputKey": "videos/11.mp4", "variables": {"title": "x" * MAX_REQUEST_BYTES}},
        ],
    )


def test_dry_run_reports_every_problem_by_line_and_starts_nothing(
    project: Path,
    target: CloudRunTarget,
    fake: FakeExecutions,
    counting: CountingStorage,
    tmp_path: Path,
) -> None:
    report = render_batch(
        project, _mixed(tmp_path), target=target, dry_run=True, executions=fake, storage=counting
    )
    by_line = {line.line: line for line in report.lines}
    assert sorted(by_line) == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert {n for n, line in by_line.items() if line.status == "valid"} == {1, 10}
    codes = {n: line.error.code for n, line in by_line.items() if line.error}
    assert codes == {
        2: "INVALID_INPUT",
        3: "INVALID_INPUT",
        5: "VARIABLES_INVALID",
        6: "VARIABLES_INVALID",
        7: "OUTPUT_NOT_WRITABLE",
        8: "INVALID_INPUT",
        9: "INVALID_CONFIG",
        11: "ARGUMENT_TOO_LARGE",
    }
    assert "JSON" in by_line[2].error.message  # type: ignore[union-attr]
    assert "outputKey" in by_line[3].error.message  # type: ignore[union-attr]
    assert "line 1" in by_line[8].error.message  # type: ignore[union-attr]
    assert by_line[11].output_key == "videos/11.mp4"
    assert not report.ok and report.dry_run
    assert fake.calls == [] and counting.total == 0
    assert BatchReport.from_json(json.loads(json.dumps(report.to_json()))) == report


def test_invalid_batch_raises_with_all_problems_and_starts_nothing(
    project: Path,
    target: CloudRunTarget,
    fake: FakeExecutions,
    counting: CountingStorage,
    tmp_path: Path,
) -> None:
    with pytest.raises(BatchInvalidError) as caught:
        render_batch(project, _mixed(tmp_path), target=target, executions=fake, storage=counting)
    assert [line for line, _ in caught.value.problems] == [2, 3, 5, 6, 7, 8, 9, 11]
    assert "line 5:" in caught.value.message and "--dry-run" in caught.value.message
    assert fake.calls == [] and counting.total == 0


def test_twenty_lines_never_more_than_four_active(
    project: Path, target: CloudRunTarget, storage: Storage, tmp_path: Path
) -> None:
    fake = FakeExecutions(polls_to_finish=3)
    lines = [{"outputKey": f"out/{i:02d}.mp4", "variables": {"count": i}} for i in range(20)]
    batch = _write(tmp_path / "batch.jsonl", lines)
    events: list[BatchLineResult] = []
    report = render_batch(
        project,
        batch,
        target=target,
        max_concurrent=4,
        executions=fake,
        storage=storage,
        poll_interval_s=0.01,
        on_event=events.append,
        sleep=lambda s: None,
    )
    assert fake.max_active == 4  # reached, never exceeded
    assert len(fake.creates()) == 20
    assert report.ok and report.count("succeeded") == 20
    assert [line.line for line in report.lines] == list(range(1, 21))
    assert {line.output_uri for line in report.lines} == {
        f"gs://{target.bucket_name}/out/{i:02d}.mp4" for i in range(20)
    }
    assert [e.status for e in events].count("running") == 20
    # Each line's own variables went into its own request object.
    first = fake.executions[report.lines[0].execution_name]  # type: ignore[index]
    request = storage.read_json(json.loads(first.argument)["requestUri"])
    assert request["config"]["variables"] == {"count": 0}
    assert request["config"]["strictVariables"] is True
    # The site was uploaded once.
    sites = storage.list_keys(f"gs://{target.bucket_name}/sites/")
    assert len(sites) == 1


def test_failed_lines_carry_their_error(
    project: Path, target: CloudRunTarget, storage: Storage, tmp_path: Path
) -> None:
    def outcome(execution: Execution) -> tuple[Any, dict[str, Any] | None]:
        if execution.name.endswith("e0002"):
            return State.FAILED, {"code": "PAGE_SCRIPT_ERROR", "message": "boom", "step": "plan"}
        return State.SUCCEEDED, None

    fake = FakeExecutions(polls_to_finish=1, outcome=outcome)
    batch = _write(tmp_path / "b.jsonl", [{"outputKey": f"o/{i}.mp4"} for i in range(3)])
    report = render_batch(
        project, batch, target=target, executions=fake, storage=storage, sleep=lambda s: None
    )
    assert [line.status for line in report.lines] == ["succeeded", "failed", "succeeded"]
    assert report.lines[1].error is not None and report.lines[1].error.code == "PAGE_SCRIPT_ERROR"
    assert not report.ok


def test_an_outage_skips_the_rest_but_follows_the_running(
    project: Path, target: CloudRunTarget, storage: Storage, tmp_path: Path
) -> None:
    class Flaky(FakeExecutions):
        def create_execution(self, *, parent: str, execution: Execution) -> Execution:
            if len(self.creates()) == 2:
                raise WorkflowsUnavailableError("Executions API down; try again later")
            return super().create_execution(parent=parent, execution=execution)

    fake = Flaky(polls_to_finish=2)
    batch = _write(tmp_path / "b.jsonl", [{"outputKey": f"o/{i}.mp4"} for i in range(5)])
    report = render_batch(
        project, batch, target=target, executions=fake, storage=storage, sleep=lambda s: None
    )
    assert [line.status for line in report.lines] == [
        "succeeded",
        "succeeded",
        "failed",
        "skipped",
        "skipped",
    ]
    assert report.lines[3].error is not None
    assert "line 3 could not start" in report.lines[3].error.message
