"""Predicted wall time and cost of a distributed render, from figures measured here. IO-free.

``framerun bench --model`` prints this model's table and writes it, with a plot, to
``docs/performance.md``. A render is modelled as the workflow runs it:

    wall = plan + max over instances (scale-out delay + its chunks, one after another)
           + assemble

- **Chunks.** Exactly as the planner sizes them when no chunk size is given
  (``render/chunksizing.py``, with ``max_parallel_chunks`` = the instances): one chunk
  per instance, more (run in waves, each instance taking every ``instances``-th chunk)
  only when a chunk of the heaviest measured page would take longer than the
  planner's target; never more chunks than frames. Sizes differ by at most one frame.
- **A chunk's request** = (on an instance's first chunk) the cold start: the
  platform's instance start (documented, :data:`PLATFORM_START_S`), the service's own
  start, the site's download and unpack, the browser's launch; (on later chunks) a
  warm chunk's fixed cost; then the pre-roll to its first frame (a chunk that starts
  at frame N first lives through frames 0…N−1), its frames at
  ``throughput.frame_seconds``, and the upload of its bytes.
- **Assemble** runs on one warm instance: every chunk downloaded, stream-copied into
  one file, the file uploaded: it grows with the output's bytes and the chunk count.
- **Cost** is :func:`framerun.costs.estimate_costs` of those requests (so the parts
  add up exactly, at the same list prices) with the workflow's steps from
  :func:`framerun.costs.estimate_workflow_steps`. A cold start is billed inside its
  chunk's request: request-based billing charges an instance while it starts
  (https://cloud.google.com/run/docs/configuring/billing-settings).

Every figure measured here sits in :data:`MEASURED` with its date, commit and
command (``scripts/measure_overheads.py``); the assumptions are the module constants
below, each with its source.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from framerun.costs import Costs, estimate_costs, estimate_workflow_steps
from framerun.errors import InvalidConfigError
from framerun_service.render.chunksizing import HTTP_POST_CAP_S, ChunkModel, auto_chunk_sizing
from framerun_service.render.fanout import chunk_groups
from framerun_service.render.throughput import FULL_HD_PIXELS, TYPICAL, FrameCost, frame_seconds

__all__ = [
    "HTTP_POST_CAP_S",
    "HYPERFRAMES_MAX_INSTANCES",
    "ISSUE_INSTANCES",
    "MEASURED",
    "PLATFORM_START_S",
    "PLATFORM_START_SOURCE",
    "SCALE_OUT_PER_S",
    "Job",
    "Overheads",
    "Prediction",
    "chunk_count",
    "cold_start_s",
    "predict",
    "predict_many",
    "render_steps",
]

# ---- assumptions (not measurable here) ------------------------------------------------

# The Cloud Run documentation gives one start-up figure: "Cloud Run instances with an
# attached L4 GPU with drivers pre-installed start in approximately 5 seconds". It is
# for GPU instances (which also attach a GPU); no figure is published for CPU-only
# instances, so the model takes these 5 s as the platform's share of a cold start and
# adds the container's own start, measured here.
PLATFORM_START_S = 5.0
PLATFORM_START_SOURCE = "https://cloud.google.com/run/docs/configuring/services/gpu"
# Cloud Run does not publish how fast it adds instances for a burst of requests; its
# autoscaling page says requests wait for a new instance up to 3.5× the average start
# time or 10 s (https://cloud.google.com/run/docs/about-instance-autoscaling). The
# model assumes instances start one after another at this rate, so the 400th request
# reaches its instance 8 s after the first: an assumption, to be measured on a deploy.
SCALE_OUT_PER_S = 50.0
# Cloud Workflows' http.post timeout cap: a chunk's request must end inside it.
# HyperFrames renders on at most 20 instances at once (Workflows' 20 parallel branches).
HYPERFRAMES_MAX_INSTANCES = 20
# The instance counts issue 14 asks about.
ISSUE_INSTANCES = (1, 16, 64, 256, 400)
MB = 1_000_000


@dataclass(frozen=True)
class Overheads:
    """What a chunk and a render cost besides drawing frames, measured on this machine."""

    service_start_s: float  # a cold gunicorn with the service, until /healthz answers
    site_fixed_s: float  # the bench site (small) downloaded and unpacked
    site_s_per_mb: float  # each further MB of site archive, downloaded and unpacked
    download_s_per_mb: float  # Storage.download_to, per MB
    upload_s_per_mb: float  # Storage.upload_file_if_absent, per MB
    object_s: float  # one small object read: the per-request latency of storage
    chunk_cold_s: float  # a 1-frame chunk on a new browser session (Chrome launched)
    chunk_warm_s: float  # the same on the warm session
    preroll_ms_per_frame: float  # a page living through one frame before its chunk
    bytes_per_frame_1080p: float  # an encoded 1080p frame, default quality
    assemble_s_per_mb: float  # stream-copy concat, per MB of output
    plan_s: float  # the plan Action's own work on an extracted site
    source: str  # when, at which commit, by which command


# scripts/measure_overheads.py on this machine (2 shared cores, load average 0.98; the
# storage is fake-gcs-server on loopback, the page examples/bench at 1920×1080).
MEASURED = Overheads(
    service_start_s=0.44,
    site_fixed_s=0.0039,
    site_s_per_mb=0.0046,
    download_s_per_mb=0.0035,
    upload_s_per_mb=0.0124,
    object_s=0.0011,
    chunk_cold_s=0.43,
    chunk_warm_s=0.28,
    preroll_ms_per_frame=0.152,
    bytes_per_frame_1080p=27_388,
    assemble_s_per_mb=0.0152,
    plan_s=0.035,
    source="2026-12-03, commit 841e3a7, `.venv/bin/python scripts/measure_overheads.py`",
)


@dataclass(frozen=True)
class Job:
    """The render to predict. Defaults: issue 14's 10-minute 1080p30 on 4 vCPU / 8 GiB."""

    frames: int = 18_000
    width: int = 1920
    height: int = 1080
    fps: float = 30.0
    vcpu: int = 4
    memory_gib: float = 8.0
    site_mb: float = 1.0  # the site archive's size
    cost: FrameCost = TYPICAL

    def __post_init__(self) -> None:
        whole = {"frames": self.frames, "width": self.width, "height": self.height}
        for name, value in {**whole, "vcpu": self.vcpu}.items():
            if value < 1:
                raise InvalidConfigError(f"{name} must be a whole number ≥ 1, got {value}")
        for name, amount in {"fps": self.fps, "memory_gib": self.memory_gib}.items():
            if amount <= 0:
                raise InvalidConfigError(f"{name} must be > 0, got {amount:g}")
        if self.site_mb < 0:
            raise InvalidConfigError(f"site_mb must be ≥ 0, got {self.site_mb:g}")

    @property
    def frame_s(self) -> float:
        return frame_seconds(self.width, self.height, vcpus=self.vcpu, cost=self.cost)

    @property
    def bytes_per_frame_scale(self) -> float:
        """Encoded bytes scale with the pixels (an assumption; 1080p is measured)."""
        return self.width * self.height / FULL_HD_PIXELS


@dataclass(frozen=True)
class Prediction:
    """One instance count's predicted render: wall time, cost and what they are made of."""

    instances: int
    chunks: int
    waves: int
    plan_s: float
    chunk_s: tuple[float, ...] = field(repr=False)  # each chunk request, cold start included
    assemble_s: float
    wall_s: float
    costs: Costs
    speedup: float = 1.0

    @property
    def longest_chunk_s(self) -> float:
        return max(self.chunk_s)

    @property
    def over_cap(self) -> bool:
        """A chunk request would outlast Workflows' 1800 s http.post cap: it would fail."""
        return self.longest_chunk_s > HTTP_POST_CAP_S


def render_steps(chunks: int, parallel: int) -> int:
    """The workflow steps of a render of ``chunks`` chunks, ``parallel`` at once (child
    executions past 20: ``render/fanout.py``)."""
    return estimate_workflow_steps(chunks, groups=len(chunk_groups(chunks, parallel)))


def chunk_count(job: Job, instances: int) -> int:
    """The planner's automatic count for ``instances`` at once (``chunksizing``); a page
    too slow for even one frame per chunk gets one frame per chunk, flagged by the cap."""
    if instances < 1:
        raise InvalidConfigError(f"instances must be ≥ 1, got {instances}")
    model = ChunkModel(job.width, job.height, job.vcpu)
    try:
        sizing = auto_chunk_sizing(0, job.frames, max_parallel_chunks=instances, model=model)
    except InvalidConfigError:
        return job.frames
    return sizing.count


def cold_start_s(job: Job, overheads: Overheads = MEASURED) -> float:
    """A new instance's first chunk before its pre-roll: the platform's start (documented),
    the service's start, the site's download and unpack, the browser's launch."""
    o = overheads
    return (
        PLATFORM_START_S
        + o.service_start_s
        + o.site_fixed_s
        + job.site_mb * o.site_s_per_mb
        + o.chunk_cold_s
    )


def predict(job: Job, instances: int, *, overheads: Overheads = MEASURED) -> Prediction:
    """The predicted wall time and cost of ``job`` on ``instances`` instances at once."""
    o = overheads
    chunks = chunk_count(job, instances)
    used = min(instances, chunks)
    base, extra = divmod(job.frames, chunks)
    cold = cold_start_s(job, o)
    mb_per_frame = o.bytes_per_frame_1080p * job.bytes_per_frame_scale / MB
    chunk_s: list[float] = []
    busy = [0.0] * used  # each instance's chunks, one after another
    start = 0
    for i in range(chunks):
        frames = base + (1 if i < extra else 0)
        seconds = (
            (cold if i < used else o.chunk_warm_s)
            + start * o.preroll_ms_per_frame / 1000
            + frames * job.frame_s
            + frames * mb_per_frame * o.upload_s_per_mb
            + o.object_s  # the chunk's record
        )
        chunk_s.append(seconds)
        busy[i % used] += seconds
        start += frames
    # The plan runs on a cold instance: start, site, plan, plan stored.
    plan_s = cold - o.chunk_cold_s + o.plan_s + o.object_s
    out_mb = job.frames * mb_per_frame
    assemble_s = (
        o.chunk_warm_s  # a warm instance's fixed cost per request
        + chunks * o.object_s
        + out_mb * (o.download_s_per_mb + o.assemble_s_per_mb + o.upload_s_per_mb)
    )
    render_s = max(k / SCALE_OUT_PER_S + s for k, s in enumerate(busy))
    costs = estimate_costs(
        chunk_s,
        plan_s,
        assemble_s,
        vcpu=job.vcpu,
        memory_gib=job.memory_gib,
        workflow_steps=render_steps(chunks, used),
    )
    return Prediction(
        instances=instances,
        chunks=chunks,
        waves=math.ceil(chunks / used),
        plan_s=plan_s,
        chunk_s=tuple(chunk_s),
        assemble_s=assemble_s,
        wall_s=plan_s + render_s + assemble_s,
        costs=costs,
    )


def predict_many(
    job: Job, instance_counts: Sequence[int] = ISSUE_INSTANCES, *, overheads: Overheads = MEASURED
) -> list[Prediction]:
    """:func:`predict` for each count, each with its speed-up over one instance."""
    one = predict(job, 1, overheads=overheads).wall_s
    out = []
    for n in instance_counts:
        p = predict(job, n, overheads=overheads)
        out.append(
            Prediction(
                p.instances,
                p.chunks,
                p.waves,
                p.plan_s,
                p.chunk_s,
                p.assemble_s,
                p.wall_s,
                p.costs,
                speedup=one / p.wall_s,
            )
        )
    return out
