"""The cost and time model as a table, a Markdown section and a plot.

``framerun bench --model --write-doc`` replaces only the text between :data:`BEGIN`
and :data:`END` in ``docs/performance.md`` (``make bench-peer`` writes the rest of
that file and keeps this section), and draws ``docs/model.png`` beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from framerun.costmodel import (
    HTTP_POST_CAP_S,
    HYPERFRAMES_MAX_INSTANCES,
    MEASURED,
    PLATFORM_START_S,
    PLATFORM_START_SOURCE,
    SCALE_OUT_PER_S,
    Job,
    Overheads,
    Prediction,
    cold_start_s,
    predict,
    render_steps,
)
from framerun.costs import CURRENCY, PRICES_AS_OF
from framerun_service.render.chunksizing import TARGET_CHUNK_S

BEGIN = "<!-- framerun bench --model: begin (written by the command; edit costmodel.py) -->"
END = "<!-- framerun bench --model: end -->"
HEADER = ("instances", "chunks", "longest chunk", "wall time", "cost", "speed-up", "note")
PLOT_NAME = "model.png"
DISCLAIMER = (
    f"A prediction at Google's {CURRENCY} list prices as of {PRICES_AS_OF} (framerun.costs: "
    "Cloud Run request-based billing, Workflows internal steps, Tier 1 regions), before free "
    "tiers, discounts and taxes; cold starts are billed inside their chunk's request, as "
    "request-based billing charges an instance's start-up; Cloud Storage and networking "
    "are not included."
)


def duration(seconds: float) -> str:
    """``42 s``, ``7 min 05 s``, ``1 h 02 min``: a wall time one reads at a glance."""
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def note(p: Prediction) -> str:
    notes = []
    if p.instances == HYPERFRAMES_MAX_INSTANCES:
        notes.append("HyperFrames' ceiling")
    if p.waves > 1:
        notes.append(f"{p.waves} waves")
    if p.over_cap:
        notes.append(f"a chunk outlasts the {HTTP_POST_CAP_S:g} s http.post cap")
    return "; ".join(notes)


def row(p: Prediction) -> tuple[str, ...]:
    return (
        str(p.instances),
        str(p.chunks),
        duration(p.longest_chunk_s),
        duration(p.wall_s),
        p.costs.display_cost,
        f"{p.speedup:.1f}×",
        note(p),
    )


def with_ceiling(job: Job, predictions: Sequence[Prediction]) -> list[Prediction]:
    """The predictions plus HyperFrames' 20-instance ceiling, in instance order."""
    if any(p.instances == HYPERFRAMES_MAX_INSTANCES for p in predictions):
        return list(predictions)
    one = predict(job, 1).wall_s
    hf = predict(job, HYPERFRAMES_MAX_INSTANCES)
    hf = Prediction(
        hf.instances,
        hf.chunks,
        hf.waves,
        hf.plan_s,
        hf.chunk_s,
        hf.assemble_s,
        hf.wall_s,
        hf.costs,
        speedup=one / hf.wall_s,
    )
    return sorted([*predictions, hf], key=lambda p: p.instances)


def describe(job: Job) -> str:
    minutes = job.frames / job.fps / 60
    return (
        f"{job.frames:,} frames ({minutes:.3g} min at {job.fps:g} fps), "
        f"{job.width}×{job.height}, {job.vcpu} vCPU / {job.memory_gib:g} GiB per instance, "
        f"'{job.cost.name}' page ({job.cost.fps_per_vcpu_1080p:.2f} fps per vCPU at 1080p)"
    )


def markdown(job: Job, predictions: Sequence[Prediction], o: Overheads = MEASURED) -> str:
    """The section written between the markers: the table, the plot, the assumptions."""
    rows = [row(p) for p in predictions]
    widest = max(predictions, key=lambda p: p.instances)
    out_mb = job.frames * o.bytes_per_frame_1080p * job.bytes_per_frame_scale / 1e6
    steps = ", ".join(
        f"{p.instances}: {render_steps(p.chunks, min(p.instances, p.chunks))}" for p in predictions
    )
    lines = [
        BEGIN,
        "## Cost and time model (`framerun bench --model`)",
        "",
        f"Predicted for {describe(job)}. Written by `framerun bench --model --write-doc`.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + " --- |" * len(HEADER),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        f"![wall time and cost against instances, HyperFrames' ceiling at "
        f"{HYPERFRAMES_MAX_INSTANCES}]({PLOT_NAME})",
        "",
        f"Where the time goes at {widest.instances} instances: plan {duration(widest.plan_s)}, "
        f"the slowest chunk {duration(widest.longest_chunk_s)} (a cold start is "
        f"{duration(cold_start_s(job, o))} of it), "
        f"assemble {duration(widest.assemble_s)} for {out_mb:,.0f} MB of output. Past a few "
        "dozen instances these fixed terms, not the frames, set the wall time: more "
        "instances then mostly add cost.",
        "",
        "How it is modelled (`sdk/framerun/costmodel.py`):",
        "",
        "- wall time = plan + the slowest instance (its scale-out delay + its chunks one "
        "after another) + assemble. Chunks as the planner sizes them "
        "(`render/chunksizing.py`, maxParallelChunks = instances): one per instance; more, "
        "run in waves, only when a chunk of the heaviest measured page would take longer "
        f"than {duration(TARGET_CHUNK_S)}.",
        "- a chunk's request = the cold start on an instance's first chunk (platform start "
        f"{PLATFORM_START_S:g} s + service start {o.service_start_s:.2f} s + site download "
        f"and unpack + browser launch, {o.chunk_cold_s:.2f} s with a 1-frame chunk), then "
        f"the pre-roll to its first frame ({o.preroll_ms_per_frame:.3f} ms per frame "
        f"passed), its frames ({job.frame_s * 1000:.1f} ms each, `render/throughput.py`), "
        f"the upload of its bytes ({o.bytes_per_frame_1080p / 1000:.0f} kB per 1080p frame, "
        f"{o.upload_s_per_mb * 1000:.1f} ms per MB).",
        f"- assemble = every chunk downloaded ({o.download_s_per_mb * 1000:.1f} ms per MB), "
        f"stream-copied ({o.assemble_s_per_mb * 1000:.1f} ms per MB of output) and the "
        "output uploaded, on a warm instance.",
        f"- cost = `costs.estimate_costs` of those requests and the workflow's steps "
        f"(steps by instance count: {steps}). {DISCLAIMER}",
        f"- assumption, documented: the platform's share of a cold start is "
        f'{PLATFORM_START_S:g} s, the one start-up figure Cloud Run publishes ("instances '
        f"with an attached L4 GPU with drivers pre-installed start in approximately 5 "
        f'seconds", {PLATFORM_START_SOURCE}); none is published for CPU-only instances.',
        f"- assumption, not documented: Cloud Run starts the instances of a burst at "
        f"{SCALE_OUT_PER_S:g} per second (the 400th request waits "
        f"{400 / SCALE_OUT_PER_S:g} s longer than the first); its autoscaling page only "
        "says a request waits for a new instance up to 3.5× the average start time or 10 s.",
        "- assumption: fan-out past 20 branches (parent and child executions) starts every "
        "chunk as one parallel step would (no extra latency per child execution); the "
        "steps are what `costs.estimate_workflow_steps` counts for that many chunks and "
        "child executions.",
        f"- measured here ({o.source}); loopback storage is faster than Cloud Storage from "
        "an instance, so storage terms are lower bounds.",
        END,
    ]
    return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
    """``text`` with the marked section replaced (appended, after a blank line, if absent)."""
    start, end = text.find(BEGIN), text.find(END)
    if start != -1 and end > start:
        return text[:start] + section + text[end + len(END) :]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def plot(job: Job, path: Path, *, points: Sequence[int] | None = None) -> None:
    """Wall time (log-log) and cost against instances; HyperFrames' ceiling drawn at 20."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted({*(points or ()), *_log_range(1, 400, 40)})
    preds = [predict(job, n) for n in counts]
    fig, wall_ax = plt.subplots(figsize=(7.5, 4.5))
    wall_ax.plot(counts, [p.wall_s / 60 for p in preds], color="#2a7ab0", label="wall time")
    if points:
        marked = [predict(job, n) for n in points]
        wall_ax.plot(
            [p.instances for p in marked], [p.wall_s / 60 for p in marked], "o", color="#2a7ab0"
        )
    wall_ax.set_xscale("log")
    wall_ax.set_yscale("log")
    wall_ax.set_xlabel(f"instances ({job.vcpu} vCPU / {job.memory_gib:g} GiB), log scale")
    wall_ax.set_ylabel("predicted wall time (minutes, log scale)", color="#2a7ab0")
    cost_ax = wall_ax.twinx()
    cost_ax.plot(
        counts, [float(p.costs.total_usd) for p in preds], color="#c0392b", label="cost (USD)"
    )
    cost_ax.set_ylabel("predicted cost (USD, list prices)", color="#c0392b")
    cost_ax.set_ylim(bottom=0)
    wall_ax.axvline(HYPERFRAMES_MAX_INSTANCES, color="#555555", linestyle="--")
    wall_ax.annotate(
        f"HyperFrames' ceiling ({HYPERFRAMES_MAX_INSTANCES})",
        (HYPERFRAMES_MAX_INSTANCES, 0.5),
        xycoords=("data", "axes fraction"),
        xytext=(4, 0),
        textcoords="offset points",
        rotation=90,
        va="center",
        fontsize=8,
    )
    wall_ax.set_title(
        f"{job.frames:,} frames {job.width}×{job.height}: predicted wall time and cost",
        fontsize=10,
    )
    wall_ax.grid(True, which="both", alpha=0.3)
    handles = [*wall_ax.get_lines()[:1], *cost_ax.get_lines()[:1]]
    wall_ax.legend(handles=handles, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def _log_range(lo: int, hi: int, n: int) -> list[int]:
    ratio = (hi / lo) ** (1 / (n - 1))
    return sorted({round(lo * ratio**i) for i in range(n)})
