#!/usr/bin/env python3
"""`make compat`: render HyperFrames' own regression fixtures with HyperFrames and with
framerun, compare them, and write docs/compatibility.md.

It runs the shared harness (../shared/peer/hf-compat.sh: an offline copy of each fixture,
rendered by the HyperFrames CLI and by `framerun render`, compared frame by frame) and
turns its TSV into the page: each fixture's verdict by HyperFrames' own bar (equal frame
counts, every frame at or above the fixture's minPsnr), its PSNR, and — from
scripts/compat_notes.json, which people keep — what still differs and why.

Not part of `make test`: installing the peer takes minutes and the renders longer.

usage: scripts/compat.py [--fixtures DIR] [--out DIR] [--doc FILE] [--from-results TSV]
                         [NAME ...]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
NOTES = REPO / "scripts" / "compat_notes.json"
HF_VERSION = "0.8.170"


def run_harness(fixtures: Path, out: Path, names: list[str]) -> Path:
    """Run hf-compat.sh; its rows stream to the terminal as each fixture finishes."""
    harness = SHARED / "peer" / "hf-compat.sh"
    if not harness.is_file():
        sys.exit(
            f"error: {harness} not found; `make compat` needs the shared peer kit beside the repo"
        )
    env = {**os.environ, "HFC_FIXTURES": str(fixtures), "HFC_OUT": str(out)}
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["bash", str(harness), str(REPO), *names], env=env, check=False)
    results = out / "results.tsv"
    if not results.is_file():
        sys.exit(f"error: the harness wrote no {results}; see the log above")
    return results


def read_rows(results: Path) -> list[dict[str, str]]:
    with results.open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def verdict(row: dict[str, str]) -> str:
    if row["verdict"] == "pass":
        return "pass"
    if row["hf_status"] != "ok":
        return "HyperFrames fails"
    return "fail"


def browser_version() -> str:
    try:
        out = subprocess.run(
            ["/usr/lib/chromium/chromium-headless-shell", "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def revision() -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


def shown(path: Path) -> str:
    """A path as the doc shows it: relative to the repository when it can be."""
    try:
        return os.path.relpath(path.resolve(), REPO)
    except ValueError:
        return str(path)


def write_doc(rows: list[dict[str, str]], doc: Path, fixtures: Path) -> str:
    notes = json.loads(NOTES.read_text(encoding="utf-8")) if NOTES.is_file() else {}
    rendered = [r for r in rows if r["hf_status"] == "ok"]
    passed = sum(1 for r in rendered if r["verdict"] == "pass")
    summary = f"{passed} of {len(rendered)} fixtures that HyperFrames renders pass"
    lines = [
        "# Compatibility with HyperFrames",
        "",
        "Written by `make compat` (scripts/compat.py) — do not edit by hand; the notes",
        "column comes from `scripts/compat_notes.json`.",
        "",
        f"HyperFrames' own producer regression fixtures (`{shown(fixtures)}`), each made offline",
        f"once and rendered from that same copy by the HyperFrames CLI {HF_VERSION} (2 workers)",
        "and by `framerun render` (defaults, 2 workers), then compared frame by frame.",
        "A fixture passes by HyperFrames' own bar: equal frame counts, and every frame at",
        "or above the fixture's `minPsnr` against HyperFrames' render.",
        "",
        f"- framerun {revision()}, {browser_version()}, {datetime.date.today().isoformat()}",
        f"- **{summary}.**",
        "",
        "| fixture | verdict | frames (HF / framerun) | PSNR min / mean (dB) | minPsnr "
        "| worst frame | notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        note = notes.get(r["name"], {}).get("note", "")
        lines.append(
            f"| {r['name']} | {verdict(r)} | {r['hf_frames']} / {r['fr_frames']} | "
            f"{r['psnr_min']} / {r['psnr_mean']} | {r['minPsnr']} | {r['worst_frame']} | {note} |"
        )
    explained = [(name, n) for name, n in notes.items() if n.get("why")]
    if explained:
        lines += ["", "## What still differs, and why", ""]
        for name, n in explained:
            lines += [f"### {name}", "", n["why"], ""]
    doc.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=SHARED / "hf-fixtures")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "compat")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "compatibility.md")
    parser.add_argument(
        "--from-results",
        type=Path,
        help="write the doc from this results.tsv of an earlier run instead of rendering",
    )
    parser.add_argument("names", nargs="*", help="fixture names (default: all)")
    args = parser.parse_args()
    if not args.fixtures.is_dir():
        sys.exit(f"error: no fixtures at {args.fixtures}; pass --fixtures DIR")
    results = args.from_results or run_harness(args.fixtures, args.out, args.names)
    rows = read_rows(results)
    summary = write_doc(rows, args.doc, args.fixtures)
    print(f"compat: {summary}; wrote {args.doc}", file=sys.stderr)
    failed = [r["name"] for r in rows if r["hf_status"] == "ok" and r["verdict"] != "pass"]
    if failed:
        print(f"compat: not passing: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
