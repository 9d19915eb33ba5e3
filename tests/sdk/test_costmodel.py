"""The cost and time model (``framerun.costmodel``) and ``framerun bench`` through CliRunner.

The arithmetic is checked against ``framerun.costs`` (the one home of the prices), the
shape of the curve against what the model claims (wall time falls with instances
until the per-chunk overheads dominate), and the command against a copy of a doc.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from framerun.cli import main
from framerun.costmodel import (
    HTTP_POST_CAP_S,
    MEASURED,
    PLATFORM_START_S,
    SCALE_OUT_PER_S,
    Job,
    chunk_count,
    cold_start_s,
    predict,
    predict_many,
)
from framerun.costmodel_report import BEGIN, END, markdown, replace_section, with_ceiling
from framerun.costs import estimate_costs, estimate_workflow_steps
from framerun.errors import InvalidConfigError
from framerun_service.render.throughput import HEAVY, frame_seconds

ISSUE_JOB = Job()  # 10 min 1080p30 on 4 vCPU / 8 GiB


def test_the_issue_job_is_ten_minutes_of_1080p30_on_4_vcpu_8_gib() -> None:
    assert (ISSUE_JOB.frames, ISSUE_JOB.width, ISSUE_JOB.height) == (18_000, 1920, 1080)
    assert (ISSUE_JOB.fps, ISSUE_JOB.vcpu, ISSUE_JOB.memory_gib) == (30.0, 4, 8.0)
    assert ISSUE_JOB.frame_s == frame_seconds(1920, 1080, vcpus=4)


@pytest.mark.parametrize("instances", [1, 16, 20, 64, 256, 400])
def test_costs_are_exactly_costs_py_of_the_modelled_requests(instances: int) -> None:
    p = predict(ISSUE_JOB, instances)
    again = estimate_costs(
        p.chunk_s,
        p.plan_s,
        p.assemble_s,
        vcpu=4,
        memory_gib=8,
        # past 20 in flight the chunks run in child executions: ⌈n/20⌉ groups
        workflow_steps=estimate_workflow_steps(
            p.chunks, groups=0 if instances <= 20 else -(-instances // 20)
        ),  # written out here, not render_steps: the test restates the rule
    )
    assert p.costs == again
    c = p.costs
    parts = c.cloud_run_vcpu_usd + c.cloud_run_memory_usd + c.cloud_run_requests_usd
    assert parts + c.workflows_usd == c.total_usd
    # one request per chunk, plus the plan and the assemble
    assert c.cloud_run_requests_usd == Decimal(p.chunks + 2) * Decimal("0.40") / 1_000_000


def test_a_later_chunk_pays_the_pre_roll_to_its_first_frame() -> None:
    p = predict(ISSUE_JOB, 256)
    assert p.chunks == len(p.chunk_s) == 256
    # 18000 = 80 chunks of 71 frames + 176 of 70: two equal neighbours differ by the
    # pre-roll of the 70 frames between their starts, and nothing else.
    step = p.chunk_s[-1] - p.chunk_s[-2]
    assert step == pytest.approx(70 * MEASURED.preroll_ms_per_frame / 1000)
    assert p.chunk_s[1] - p.chunk_s[0] == pytest.approx(71 * MEASURED.preroll_ms_per_frame / 1000)


def test_wall_time_falls_with_instances_until_overheads_dominate() -> None:
    walls = [predict(ISSUE_JOB, n).wall_s for n in (1, 2, 4, 8, 16, 32, 64)]
    assert walls == sorted(walls, reverse=True)
    assert walls[0] / walls[-1] > 10
    # From some count on, one more instance no longer pays: the plan, a cold start,
    # the assemble and the scale-out delay are a floor that fan-out cannot cut.
    wide = predict(ISSUE_JOB, 400)
    floor = wide.plan_s + cold_start_s(ISSUE_JOB) + wide.assemble_s + 399 / SCALE_OUT_PER_S
    assert floor < wide.wall_s < floor + 10
    assert wide.wall_s > predict(ISSUE_JOB, 256).wall_s


def test_cost_grows_with_instances_since_every_instance_pays_a_cold_start() -> None:
    costs = [predict(ISSUE_JOB, n).costs.total_usd for n in (1, 16, 64, 256, 400)]
    assert costs == sorted(costs)


def test_a_chunk_that_would_outlast_the_target_is_split_into_waves() -> None:
    heavy_hour = Job(frames=108_000, cost=HEAVY)
    p = predict(heavy_hour, 1)
    assert p.chunks == chunk_count(heavy_hour, 1) > 1
    assert p.waves == p.chunks
    assert not p.over_cap
    assert p.longest_chunk_s < HTTP_POST_CAP_S


def test_the_1800_s_cap_is_flagged() -> None:
    # A page so slow that even a one-frame chunk cannot fit: flagged, not hidden.
    crawl = dataclasses.replace(HEAVY, fps_per_vcpu_1080p=0.0005)
    job = Job(frames=3, vcpu=1, cost=crawl)
    p = predict(job, 1)
    assert p.chunks == chunk_count(job, 1)  # the planner sizes by the heavy page
    assert p.over_cap
    assert p.longest_chunk_s > HTTP_POST_CAP_S
    assert "http.post cap" in markdown(job, [p])


def test_chunks_are_never_shorter_than_the_planners_minimum() -> None:
    # as render/chunksizing.py plans it: 600 frames at 400 at once are 20 chunks of 30
    assert chunk_count(Job(frames=600), 400) == 20
    p = predict(Job(frames=600), 400)
    assert p.chunks == 20 and p.waves == 1


def test_speedup_is_against_one_instance_and_hyperframes_ceiling_is_added() -> None:
    rows = with_ceiling(ISSUE_JOB, predict_many(ISSUE_JOB))
    assert [p.instances for p in rows] == [1, 16, 20, 64, 256, 400]
    assert rows[0].speedup == 1.0
    hf = rows[2]
    assert hf.speedup == pytest.approx(rows[0].wall_s / hf.wall_s)
    # fan-out past HyperFrames' ceiling is the point: 64 instances beat 20
    assert rows[3].wall_s < hf.wall_s


@pytest.mark.parametrize(
    "changes",
    [{"frames": 0}, {"vcpu": 0}, {"fps": 0}, {"memory_gib": -1}, {"site_mb": -1}],
)
def test_bad_inputs_are_typed_errors(changes: dict[str, float]) -> None:
    with pytest.raises(InvalidConfigError):
        Job(**changes)  # type: ignore[arg-type]


def test_measured_figures_say_where_they_come_from() -> None:
    assert "scripts/measure_overheads.py" in MEASURED.source
    assert MEASURED.chunk_cold_s > MEASURED.chunk_warm_s > 0


def test_replace_section_keeps_the_rest_of_the_file() -> None:
    text = "# Title\n\nbefore\n\n" + BEGIN + "\nold\n" + END + "\n\nafter\n"
    out = replace_section(text, BEGIN + "\nnew\n" + END)
    assert out == "# Title\n\nbefore\n\n" + BEGIN + "\nnew\n" + END + "\n\nafter\n"
    assert replace_section("# Only\n", "S") == "# Only\n\nS\n"


# ---- the command ----------------------------------------------------------------------


def test_bench_without_model_says_what_it_does() -> None:
    result = CliRunner().invoke(main, ["bench"])
    assert result.exit_code == 0, result.output
    assert "--model" in result.output and "make bench" in result.output


def test_bench_model_prints_the_table() -> None:
    result = CliRunner().invoke(main, ["bench", "--model"])
    assert result.exit_code == 0, result.output
    for count in ("16", "64", "256", "400", "HyperFrames' ceiling"):
        assert count in result.output
    assert predict(ISSUE_JOB, 400).costs.display_cost in result.output


def test_bench_model_refuses_bad_input_with_one_line() -> None:
    result = CliRunner().invoke(main, ["bench", "--model", "--instances", "0"])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: --instances must be ≥ 1")
    assert "[INVALID_CONFIG]" in result.output


def test_write_doc_replaces_its_section_idempotently(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    real = Path(__file__).resolve().parents[2] / "docs" / "performance.md"
    doc = tmp_path / "performance.md"
    doc.write_text(real.read_text(encoding="utf-8"), encoding="utf-8")
    head = doc.read_text(encoding="utf-8").split(BEGIN)[0]
    assert "## Results" in head  # bench-peer's part of the file
    args = ["bench", "--model", "--write-doc", "--doc", str(doc)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    once = doc.read_text(encoding="utf-8")
    assert once.startswith(head + BEGIN)
    assert once.count(BEGIN) == 1 and once.count(END) == 1 and "| 400 | 400 |" in once
    assert f"{PLATFORM_START_S:g} s" in once  # the documented cold start is stated
    png = tmp_path / "model.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert doc.read_text(encoding="utf-8") == once


def test_write_doc_appends_its_section_to_a_file_without_one(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nbench-peer's text stays.\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["bench", "--model", "--write-doc", "--doc", str(doc)])
    assert result.exit_code == 0, result.output
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Performance\n\nbench-peer's text stays.\n\n" + BEGIN)
    assert text.endswith(END + "\n")
