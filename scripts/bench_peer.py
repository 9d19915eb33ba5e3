#!/usr/bin/env python3
"""`make bench-peer`: framerun side by side with its peer, the HyperFrames CLI.

Why: the project's speed targets are set against HyperFrames (fps ≥ 1.5× its geometric
mean and ≥ 1.2× on each composition, PSNR at most 0.3 dB below it, peak memory no
higher); this measures them on one machine, on the same pages, and writes
docs/performance.md and docs/performance.png.

- Pages: from the shared peer kit beside the repo (../shared/peer), called, never
  copied: its four compositions (make-comps.sh; 1920×1080, 30 fps, 10 s) and
  HyperFrames' own regression fixtures (fps and variables from their meta.json), each
  made offline by hf_compat.py prep (CDN scripts -> npm copies, remote media and
  images -> generated stand-ins; so warm-grain's paper texture is a test pattern) and
  rendered from that same copy by both tools. A fixture whose format is not mp4 is
  skipped: this compares the mp4 path.
- Renders: HyperFrames through run-peer.sh (`-w 2`, its defaults otherwise: x264 medium
  CRF 16, JPEG BeginFrame capture) and `framerun render` with its defaults, alternating
  the tools (HF, framerun, HF, …), `--reps` times each.
- fps: frames counted in the output / wall seconds, start-up included; the mean of the
  reps. HyperFrames' wall time is run-peer.sh's own; framerun's spans the whole
  `framerun render` process. ratio = framerun fps / HF fps. A page either tool failed
  on has no ratio and is left out of the geometric mean and the minimum.
- Peak MB: the summed PSS of the tool's whole process tree, sampled every 0.25 s
  (run-peer.sh samples HyperFrames, this script framerun, the same way); the highest
  over the reps.
- PSNR (dB): every decoded frame (RGB, 8-bit, all pixels) of each tool's first good
  render against framerun's lossless PNG-sequence render of the same page (made once,
  not timed), averaged over the frames; identical frames count 100 dB. ΔPSNR =
  framerun − HF. The reference is framerun's own capture, so framerun's figure is its
  encoding loss only, while HyperFrames' also holds every rendering difference (fonts,
  anti-aliasing, timing). Above about 50 dB the errors are ±1 rounding steps, invisible,
  so a large ΔPSNR there (a nearly flat page) says little about what one sees.
- The machine may be shared: anything else running slows a render down.

Not part of `make test`: installing the peer takes minutes and the renders longer.

usage: scripts/bench_peer.py [--only NAME ...] [--reps N] [--workdir DIR] [--no-doc]
                             [--reuse-ref] [--timeout S]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PEER, FIXTURES = SHARED / "peer", SHARED / "hf-fixtures"
FRAMERUN = REPO / ".venv" / "bin" / "framerun"
DOC, CHART = REPO / "docs" / "performance.md", REPO / "docs" / "performance.png"
PEER_COMPS = ["blank-demo", "warm-grain", "video-demo", "css-motion"]
HF_VERSION = "0.8.170"
LABELS = {"hf": "HF", "fr": "framerun"}
PSNR_CAP = 100.0  # dB given to a frame identical to its reference
GEOMEAN_TARGET, EACH_TARGET, PSNR_DROP_DB = 1.5, 1.2, 0.3
HEADER = ["composition", "frames", "HF fps", "framerun fps", "ratio", "HF peak MB"]
HEADER += ["framerun peak MB", "HF PSNR", "framerun PSNR", "ΔPSNR", "notes"]


@dataclass
class Page:
    """One composition to render: its folder and the flags both tools get."""

    name: str
    page: Path
    flags: list[str] = field(default_factory=list)
    skip: str = ""  # why it is not rendered at all


@dataclass
class Run:
    """One timed render by one tool ("hf" or "fr")."""

    tool: str
    rep: int
    out: str
    frames: int | None = None
    wall_s: float | None = None
    fps: float | None = None
    peak_mb: float | None = None
    error: str = ""


@dataclass
class Quality:
    """PSNR of one output against the reference, over their common frames."""

    mean_db: float | None = None
    min_db: float | None = None
    compared: int = 0
    note: str = ""


@dataclass
class Row:
    """Everything measured on one page."""

    name: str
    runs: list[Run] = field(default_factory=list)
    quality: dict[str, Quality] = field(default_factory=dict)
    ref_frames: int | None = None
    notes: list[str] = field(default_factory=list)

    def ok(self, tool: str) -> list[Run]:
        return [r for r in self.runs if r.tool == tool and not r.error]

    def mean_fps(self, tool: str) -> float | None:
        fps = [r.fps for r in self.ok(tool) if r.fps]
        return statistics.mean(fps) if fps else None

    def peak_mb(self, tool: str) -> float | None:
        """The highest peak of the tool's good reps (memory is not a best-of)."""
        peaks = [r.peak_mb for r in self.ok(tool) if r.peak_mb is not None]
        return max(peaks) if peaks else None

    def ratio(self) -> float | None:
        hf, fr = self.mean_fps("hf"), self.mean_fps("fr")
        return fr / hf if hf and fr else None

    def psnr(self, tool: str) -> float | None:
        return self.quality[tool].mean_db if tool in self.quality else None

    def psnr_delta(self) -> float | None:
        hf, fr = self.psnr("hf"), self.psnr("fr")
        return fr - hf if hf is not None and fr is not None else None

    def mem_delta(self) -> float | None:
        hf, fr = self.peak_mb("hf"), self.peak_mb("fr")
        return fr - hf if hf is not None and fr is not None else None


@dataclass
class Summary:
    geomean_ratio: float | None
    min_ratio: float | None
    excluded: list[str]
    targets: dict[str, str]  # target: met, not met (where), n/a


def log(msg: str) -> None:
    print(f"[bench-peer] {msg}", file=sys.stderr, flush=True)


def kit(name: str) -> Path:
    path = PEER / name
    if not path.is_file():
        sys.exit(f"error: {path} not found; `make bench-peer` needs ../shared/peer beside the repo")
    return path


def reason(stderr: str) -> str:
    """The line of a failed render's stderr that most likely says why."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and "@hf-progress" not in ln]
    errors = [ln for ln in lines if "error" in ln.lower() and "[run-peer] failed at" not in ln]
    return (errors or lines or ["no output"])[-1][:160]


def tree_pss_kb(root: int) -> int:
    """Summed Pss of root and its descendants, as run-peer.sh's sampler measures HyperFrames."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                total += sum(int(ln.split()[1]) for ln in fh if ln.startswith("Pss:"))
        except OSError:
            pass
    return total


def run_cmd(
    cmd: list[str], logs: Path, timeout: float, sample: bool = False
) -> tuple[str, float, float]:
    """Run cmd in its own process group: (error or "", wall s, peak tree PSS MB if sampled).

    Output goes to logs.stdout / logs.stderr. On timeout the group gets SIGTERM, then
    SIGKILL 15 s later (as `timeout -k 15` does). Only framerun's timed renders are
    sampled: HyperFrames' sampler is run-peer.sh's, and a second one would slow it."""
    peak, done, error = [0], threading.Event(), ""
    with open(f"{logs}.stdout", "w") as out, open(f"{logs}.stderr", "w") as err:
        env = {**os.environ, "SKIP_INSTALL": "1"}
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)

        def watch() -> None:
            while sample and not done.is_set():
                peak[0] = max(peak[0], tree_pss_kb(proc.pid))
                done.wait(0.25)

        sampler = threading.Thread(target=watch, daemon=True)
        sampler.start()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            error = f"timeout {timeout:.0f}s"
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
    if proc.returncode != 0 and not error:
        stderr = Path(f"{logs}.stderr").read_text(errors="replace")
        error = f"rc={proc.returncode}: {reason(stderr)}"
    return error, wall, peak[0] / 1024


def key_values(text: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in text.split() if "=" in kv)


def render(tool: str, page: Page, out: Path, timeout: float) -> tuple[str, float, float | None]:
    """One render: (error, wall s, peak MB). HyperFrames' figures are run-peer.sh's own
    (its last line, its .mem file); framerun's are this script's."""
    if tool == "fr":
        cmd = [str(FRAMERUN), "render", str(page.page), "-o", str(out), "--quiet", *page.flags]
        return run_cmd(cmd, out.with_suffix(""), timeout, sample=True)
    cmd = ["bash", str(kit("run-peer.sh")), str(page.page), str(out), "-w", "2", *page.flags]
    error, wall, _ = run_cmd(cmd, out.with_suffix(""), timeout)
    lines = out.with_suffix(".stdout").read_text().split("\n")
    stats = key_values(next((ln for ln in reversed(lines) if ln.startswith("frames=")), ""))
    mem_file = out.with_suffix(".mem")
    mem = key_values(mem_file.read_text()) if mem_file.is_file() else {}
    if not error and "wall_s" not in stats:
        error = "run-peer.sh printed no frames=… wall_s=… line"
    peak = float(mem["tree_peak_pss_mb"]) if "tree_peak_pss_mb" in mem else None
    return error, float(stats.get("wall_s", wall)), peak


def count_frames(video: Path) -> int:
    """Video frames in a file, counted from its packets (no decoding)."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def timed_run(tool: str, rep: int, page: Page, out_dir: Path, timeout: float) -> Run:
    out = out_dir / f"{tool}-{rep}.mp4"
    out.unlink(missing_ok=True)
    log(f"{page.name}: {'HyperFrames' if tool == 'hf' else 'framerun'}, rep {rep}")
    error, wall, peak = render(tool, page, out, timeout)
    run = Run(tool, rep, str(out), error=error)
    if not error:
        run.wall_s, run.peak_mb = round(wall, 3), peak and round(peak, 1)
        try:
            run.frames = count_frames(out)
            run.fps = round(run.frames / wall, 3)
        except (av.error.FFmpegError, IndexError, OSError) as exc:
            run.error = f"unreadable output: {exc}"
    return run


def render_ref(page: Page, ref: Path, reuse: bool, timeout: float) -> tuple[list[Path], str]:
    """framerun's lossless reference (ref/frame_000000.png, …): rendered once, untimed."""
    if not (reuse and any(ref.glob("frame_*.png"))):
        shutil.rmtree(ref, ignore_errors=True)  # framerun writes only into a new or empty folder
        ref.parent.mkdir(parents=True, exist_ok=True)
        log(f"{page.name}: reference PNG sequence (untimed)")
        flags = ["--format", "png-sequence", "--quiet", *page.flags]
        cmd = [str(FRAMERUN), "render", str(page.page), "-o", f"{ref}/", *flags]
        error, _, _ = run_cmd(cmd, ref.parent / f"{ref.name}.ref", timeout)
        if error:
            return [], error
    return sorted(ref.glob("frame_*.png")), ""


def frame_psnr(got: np.ndarray, want: np.ndarray) -> float:
    mse = float(np.mean(np.square(got.astype(np.int32) - want.astype(np.int32))))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(255.0**2 / mse))


def quality(video: Path, refs: list[Path], frames: int) -> Quality:
    """PSNR of each decoded frame against its reference PNG, one frame in memory at a time."""
    total, low, n = 0.0, PSNR_CAP, 0
    with av.open(str(video)) as container:
        for frame, ref in zip(container.decode(video=0), refs, strict=False):
            got = frame.to_ndarray(format="rgb24")  # converted with the stream's tagged matrix
            with Image.open(ref) as image:
                want = np.asarray(image.convert("RGB"))
            if got.shape != want.shape:
                h, w = want.shape[:2]
                return Quality(note=f"size {got.shape[1]}x{got.shape[0]}, reference {w}x{h}")
            value = frame_psnr(got, want)
            total, low, n = total + value, min(low, value), n + 1
    note = "" if frames == len(refs) else f"{frames} frames, reference {len(refs)}: common prefix"
    return Quality(round(total / n, 3) if n else None, round(low, 3) if n else None, n, note)


def prep(fixture: Path, page: Path) -> str:
    """hf_compat.py prep: fixture/src copied to page and made offline (CDN scripts -> npm
    copies, Google Fonts -> @fontsource, remote media -> stand-ins), so that both tools
    render the very same files. Returns why it failed, or ""."""
    env = dict(os.environ)  # hf-compat.sh's defaults: vendored npm files, media stand-ins
    env.setdefault("HFC_NPM", "/tmp/hfcompat/npm")
    env.setdefault("HFC_STANDINS", "/tmp/hfcompat/standins")
    cmd = ["python3", str(kit("hf_compat.py")), "prep", str(fixture), str(page)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"prep failed: {reason(done.stderr)}"
    if (report := json.loads(done.stdout))["errors"] or report["unhandled"]:
        left = f"{len(report['errors'])} errors, {len(report['unhandled'])} unhandled URLs"
        log(f"{fixture.name}: prep left {left} (see hf_compat.py prep)")
    return ""


def peer_pages(workdir: Path) -> list[Page]:
    """The kit's four benchmark compositions (1920×1080, 30 fps, 10 s), made offline.

    They load GSAP from a CDN (and warm-grain a paper texture) that this machine cannot
    reach: run-peer.sh patches GSAP for HyperFrames only, and framerun refuses a page
    whose files do not load, so both tools get prep's offline copy instead."""
    comps = workdir / "comps"
    cmd = ["bash", str(kit("make-comps.sh")), str(comps)]
    if subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        sys.exit("error: make-comps.sh failed (see above)")
    pages = []
    for name in PEER_COMPS:
        holder = workdir / "comps-src" / name  # prep reads a fixture's layout: <dir>/src
        holder.mkdir(parents=True, exist_ok=True)
        if not (holder / "src").is_symlink():
            (holder / "src").symlink_to(comps / name)
        page = Page(name, workdir / "comps-offline" / name)
        page.skip = prep(holder, page.page)
        pages.append(page)
    return pages


def fixture_page(fixture: Path, workdir: Path) -> Page:
    """An offline copy of one HyperFrames fixture, with its meta.json fps and variables."""
    config = json.loads((fixture / "meta.json").read_text()).get("renderConfig", {})
    page = Page(fixture.name, workdir / "fixtures" / fixture.name / "page")
    if (fmt := config.get("format", "mp4")) != "mp4":
        page.skip = f"skipped: format {fmt} (this bench compares the mp4 path)"
        return page
    page.flags = ["--fps", str(config.get("fps", 30))]
    if config.get("variables"):
        page.flags += ["--variables", json.dumps(config["variables"])]
    page.skip = prep(fixture, page.page)
    return page


def bench(page: Page, workdir: Path, args: argparse.Namespace) -> Row:
    """Reps of both tools, alternating, then each tool's first good output against the ref."""
    row = Row(page.name)
    if page.skip:
        row.notes.append(page.skip)
        return row
    out_dir = workdir / "out" / page.name
    out_dir.mkdir(parents=True, exist_ok=True)
    refs, ref_error = render_ref(page, workdir / "ref" / page.name, args.reuse_ref, args.timeout)
    row.ref_frames = len(refs) or None
    if ref_error:
        row.notes.append(f"reference failed: {ref_error}")
    for rep in range(1, args.reps + 1):
        row.runs += [timed_run(tool, rep, page, out_dir, args.timeout) for tool in ("hf", "fr")]
    for tool, label in LABELS.items():
        if failed := [r for r in row.runs if r.tool == tool and r.error]:
            row.notes.append(f"{label} failed {len(failed)}/{args.reps}: {failed[0].error}")
        if (good := row.ok(tool)) and refs:
            log(f"{page.name}: PSNR of {label} against the reference")
            row.quality[tool] = quality(Path(good[0].out), refs, good[0].frames or 0)
            if row.quality[tool].note:
                row.notes.append(f"{label}: {row.quality[tool].note}")
    return row


def safe_bench(page: Page, workdir: Path, args: argparse.Namespace) -> Row:
    """bench(), but a surprise on one page (an unreadable file, say) is its row's note."""
    try:
        return bench(page, workdir, args)
    except Exception as exc:
        log(f"{page.name}: {type(exc).__name__}: {exc}")
        return Row(page.name, notes=[f"bench error: {type(exc).__name__}: {exc}"[:160]])


def fmt(value: float | None, spec: str = ".1f", unit: str = "") -> str:
    return "—" if value is None else format(value, spec) + unit


def frames_cell(row: Row) -> str:
    """The frame count, or each tool's when they differ (a flag in itself)."""
    counts = {tool: sorted({r.frames for r in row.ok(tool) if r.frames}) for tool in ("hf", "fr")}
    if len(every := set(counts["hf"] + counts["fr"])) <= 1:
        return str(every.pop()) if every else "—"
    return " / ".join(
        f"{LABELS[tool]} {'·'.join(map(str, n)) or '—'}" for tool, n in counts.items()
    )


def cells(row: Row) -> list[str]:
    return [
        *(row.name, frames_cell(row), fmt(row.mean_fps("hf")), fmt(row.mean_fps("fr"))),
        *(fmt(row.ratio(), ".2f", "×"), fmt(row.peak_mb("hf"), ".0f")),
        *(fmt(row.peak_mb("fr"), ".0f"), fmt(row.psnr("hf"), ".2f"), fmt(row.psnr("fr"), ".2f")),
        *(fmt(row.psnr_delta(), "+.2f"), "; ".join(row.notes)),
    ]


def verdict(checked: dict[str, bool]) -> str:
    """A per-composition target: met, not met (naming where), or n/a (nothing measured)."""
    missed = [name for name, ok in checked.items() if not ok]
    return "n/a" if not checked else f"not met ({', '.join(missed)})" if missed else "met"


def summarise(rows: list[Row]) -> Summary:
    """The project's acceptance targets, each met / not met / n/a."""
    ratios = {row.name: r for row in rows if (r := row.ratio())}
    psnr = {row.name: d >= -PSNR_DROP_DB for row in rows if (d := row.psnr_delta()) is not None}
    mem = {row.name: d <= 0 for row in rows if (d := row.mem_delta()) is not None}
    geomean = math.exp(statistics.mean(map(math.log, ratios.values()))) if ratios else None
    targets = {
        f"fps geometric mean ≥ {GEOMEAN_TARGET}× HF": verdict(
            {} if geomean is None else {f"{geomean:.2f}×": geomean >= GEOMEAN_TARGET}
        ),
        f"fps ≥ {EACH_TARGET}× HF on each": verdict(
            {n: r >= EACH_TARGET for n, r in ratios.items()}
        ),
        f"PSNR at most {PSNR_DROP_DB} dB below HF on each": verdict(psnr),
        "peak memory no higher than HF on each": verdict(mem),
    }
    excluded = [row.name for row in rows if not row.ratio()]
    return Summary(geomean, min(ratios.values(), default=None), excluded, targets)


def summary_line(s: Summary) -> str:
    line = f"geometric mean ratio {fmt(s.geomean_ratio, '.2f', '×')}"
    line += f", minimum {fmt(s.min_ratio, '.2f', '×')}"
    return line + (f" (left out, no ratio: {', '.join(s.excluded)})" if s.excluded else "")


def print_table(rows: list[Row], s: Summary) -> None:
    table = [HEADER] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    for line in table:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    print(f"\n{summary_line(s)}")
    for target, met in s.targets.items():
        print(f"  {target}: {met}")


def revision() -> str:
    """framerun's short commit, read from .git's files so that no git process runs."""
    git = REPO / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        ref = head.removeprefix("ref: ")
        if ref == head:  # a detached HEAD holds the commit itself
            return head[:7]
        if (git / ref).is_file():
            return (git / ref).read_text().strip()[:7]
        packed = (git / "packed-refs").read_text().splitlines()
        return next((ln[:7] for ln in packed if ln.endswith(" " + ref)), "unknown")
    except OSError:
        return "unknown"


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({model or 'unknown model'}), load average at start {load}"


def draw_chart(rows: list[Row], path: Path) -> None:
    """Grouped fps bars per composition, the framerun/HF ratio written above each pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.mean_fps("hf") or r.mean_fps("fr")]
    x = np.arange(len(shown))
    hf = [r.mean_fps("hf") or 0 for r in shown]
    fr = [r.mean_fps("fr") or 0 for r in shown]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(shown) + 2), 4.5))
    ax.bar(x - 0.2, hf, 0.4, label=f"HyperFrames {HF_VERSION}", color="#9a9a9a")
    ax.bar(x + 0.2, fr, 0.4, label=f"framerun {revision()}", color="#2a7ab0")
    for i, row in enumerate(shown):
        ratio = fmt(row.ratio(), ".2f", "×")
        ax.annotate(
            ratio, (i, max(hf[i], fr[i])), xytext=(0, 4), textcoords="offset points", ha="center"
        )
    ax.set_xticks(x, [r.name for r in shown], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("frames per second (mean of reps)")
    ax.set_title("Render speed, framerun vs HyperFrames (ratio = framerun / HF)", fontsize=10)
    ax.legend()
    ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _model_section() -> list[str]:
    """The cost model's marked section of the current doc (framerun bench --model
    --write-doc writes it), to carry over unchanged: [] when there is none."""
    from framerun.costmodel_report import BEGIN, END

    old = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    start, end = old.find(BEGIN), old.find(END)
    return ["", old[start : end + len(END)]] if start != -1 and end > start else []


def write_doc(rows: list[Row], s: Summary, reps: int) -> None:
    draw_chart(rows, CHART)
    command = " ".join(["scripts/bench_peer.py", *sys.argv[1:]])
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        "# Performance against HyperFrames",
        "",
        "Written by `make bench-peer` (scripts/bench_peer.py) — do not edit by hand; the cost "
        "and time model's section at the end is `framerun bench --model --write-doc`'s, kept "
        "as it is.",
        "",
        f"- {when}; {machine()}",
        f"- HyperFrames CLI {HF_VERSION}: `run-peer.sh -w 2` (2 workers, its defaults otherwise)",
        f"- framerun {revision()}: `framerun render` with its defaults",
        f"- command: `{command}`; {reps} timed render{'s' * (reps > 1)} per tool, alternating",
        "",
        "## Targets",
        "",
        f"{summary_line(s)}.",
        "",
        "| target | status |",
        "| --- | --- |",
        *(f"| {target} | {met} |" for target, met in s.targets.items()),
        "",
        "## Results",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + " --- |" * len(HEADER),
        *("| " + " | ".join(c.replace("|", "/") for c in cells(r)) + " |" for r in rows),
        "",
        "![fps per composition, HyperFrames and framerun](performance.png)",
        "",
        "## How it is measured",
        "",
        __doc__.split("\n\n")[2],
        *_model_section(),
    ]
    DOC.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log(f"wrote {DOC.relative_to(REPO)} and {CHART.relative_to(REPO)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="pages to run (default: all)")
    parser.add_argument("--reps", type=int, default=2, help="timed renders per tool (default 2)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/framerun-bench-peer"),
        help="pages, outputs, logs (default /tmp/framerun-bench-peer)",
    )
    parser.add_argument("--no-doc", action="store_true", help="don't write docs/performance.*")
    parser.add_argument("--reuse-ref", action="store_true", help="keep existing reference PNGs")
    parser.add_argument("--timeout", type=float, default=600, help="per render, s (default 600)")
    args = parser.parse_args()
    if args.reps < 1:
        sys.exit("error: --reps must be at least 1")
    if not FRAMERUN.is_file():
        sys.exit(f"error: no {FRAMERUN}; run `make setup` first")
    if not args.no_doc:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            sys.exit("error: no matplotlib (dev extra); run `make setup`, or pass --no-doc")
    fixtures = sorted(p.parent for p in FIXTURES.glob("*/meta.json"))
    known = PEER_COMPS + [f.name for f in fixtures]
    wanted = args.only or known
    if unknown := sorted(set(wanted) - set(known)):
        sys.exit(f"error: unknown names {', '.join(unknown)}; known: {', '.join(known)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    log("installing the peer if missing (run-peer.sh --install-only)")
    if subprocess.run(["bash", str(kit("run-peer.sh")), "--install-only"]).returncode != 0:
        sys.exit("error: run-peer.sh --install-only failed (see above)")
    pages = peer_pages(args.workdir) if set(wanted) & set(PEER_COMPS) else []
    pages += [fixture_page(f, args.workdir) for f in fixtures if f.name in wanted]
    rows = [safe_bench(p, args.workdir, args) for p in pages if p.name in wanted]
    s = summarise(rows)
    print()
    print_table(rows, s)
    if not args.no_doc:
        write_doc(rows, s, args.reps)
    rows_json = [asdict(r) | {"ratio": r.ratio()} for r in rows]
    rec: dict[str, object] = {
        "hf_version": HF_VERSION,
        "framerun": revision(),
        "cpus": os.cpu_count(),
    }
    rec |= {"reps": args.reps, **asdict(s), "rows": rows_json}
    print("BENCH_PEER_JSON " + json.dumps(rec, ensure_ascii=False))


if __name__ == "__main__":
    main()
