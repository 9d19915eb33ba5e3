"""scripts/smoke.sh end to end on a private local stack: it passes, and its PSNR gate bites."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "scripts" / "smoke.sh"
TIMEOUT_S = 240
ROW = re.compile(
    r"^(?P<case>(?:mp4|webm|mov|png-sequence)-\S+)\s*\|\s*(?P<chunks>\d+)\s*\|\s*(?P<frames>\d+)\s*\|"
    r"\s*(?P<min>[\d.]+|inf)\s*\|\s*(?P<mean>[\d.]+|inf)\s*\|\s*(?P<wall>[\d.]+)\s*$",
    re.MULTILINE,
)


def _smoke(tmp_path: Path, *args: str, corrupt: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # anything kept after a failure lands here
    env.pop("FRAMERUN_LOCAL_DIR", None)
    if corrupt:
        env["FRAMERUN_SMOKE_CORRUPT"] = "1"
    return subprocess.run(
        ["bash", str(SMOKE), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
        cwd=REPO,
        check=False,
    )


def _rows(stdout: str) -> dict[str, dict[str, str]]:
    return {m["case"]: m.groupdict() for m in ROW.finditer(stdout)}


@pytest.mark.timeout(TIMEOUT_S + 30)
def test_smoke_passes_and_prints_the_psnr_table(tmp_path: Path) -> None:
    run = _smoke(tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert re.search(
        r"^case\s*\| chunks\s*\| frames\s*\| min PSNR\s*\| mean PSNR\s*\| wall s", out, re.M
    )
    rows = _rows(run.stdout)
    cases = [f"{fmt}-{size}" for fmt in ("mp4", "webm") for size in ("chunk15", "chunk40", "whole")]
    assert set(rows) == set(cases), out
    assert [rows[c]["chunks"] for c in cases] == ["4", "2", "1"] * 2
    for case, row in rows.items():
        assert row["frames"] == "60", case
        assert float(row["min"]) >= 40.0, (case, row)
    assert "smoke: PASS" in run.stdout
    # The private stack is gone and nothing was left behind on success.
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())


@pytest.mark.timeout(TIMEOUT_S + 30)
def test_smoke_fails_when_a_chunk_is_corrupted(tmp_path: Path) -> None:
    # One chunking is enough here: the passing run above covers the others, and the
    # corruption hook damages the 15-frame mp4 case.
    run = _smoke(tmp_path, "--formats", "mp4,png-sequence", "--chunk-sizes", "15", corrupt=True)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    # The PNG sequence is untouched by the corruption: lossless, so identical frames.
    rows = _rows(run.stdout)
    assert set(rows) == {"mp4-chunk15", "png-sequence-chunk15"}, rows
    assert rows["png-sequence-chunk15"]["min"] == "inf", rows
    assert re.search(
        r"^corrupt mode: mp4-chunk15: chunk 00001\.mp4: flipped \d+ bytes.*re-assembled 4 chunks",
        run.stdout,
        re.M,
    ), out
    assert re.search(r"^FAIL mp4-chunk15: frame \d+ PSNR [\d.]+ dB < 40 dB", run.stdout, re.M), out
    assert float(_rows(run.stdout)["mp4-chunk15"]["min"]) < 40.0
    assert "smoke: FAIL" in run.stdout
    # The stack was torn down by the trap even though the run failed.
    stack_json = next(tmp_path.glob("framerun-smoke.*/stack")) / "stack.json"
    assert not stack_json.exists()


def test_smoke_rejects_bad_arguments_without_starting_anything(tmp_path: Path) -> None:
    run = _smoke(tmp_path, "--no-such-flag")
    assert run.returncode == 2
    assert "usage: scripts/smoke.sh" in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_gcp_mode_fails_fast_without_its_tools(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("bash", "dirname", "mktemp", "rm"):
        (bare / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    env = {**os.environ, "PATH": str(bare), "TMPDIR": str(tmp_path)}
    run = subprocess.run(
        [str(bare / "bash"), str(SMOKE), "--gcp", "some-project"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert run.returncode == 3, run.stdout + run.stderr
    assert "--gcp needs gcloud on PATH" in run.stderr
