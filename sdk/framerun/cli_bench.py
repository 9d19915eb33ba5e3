"""``framerun bench --model``: the predicted wall time and cost of a render, by instance count.

The model (``framerun.costmodel``) holds the figures measured here, so the command runs
in a second with no browser. The measured benchmarks themselves run from a checkout:
``make bench`` (the engine), ``make bench-peer`` (against HyperFrames) and
``scripts/measure_overheads.py`` (the model's overheads).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from framerun.cli_options import fail
from framerun.errors import FramerunError, InvalidConfigError

if TYPE_CHECKING:
    from framerun.costmodel import Job, Prediction

DEFAULT_DOC = Path("docs") / "performance.md"


@click.command("bench")
@click.option("--model", is_flag=True, help="Print the cost and time model's predictions.")
@click.option(
    "--write-doc",
    is_flag=True,
    help="Also rewrite the model's section of --doc and draw model.png beside it.",
)
@click.option(
    "--doc",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DOC,
    show_default=True,
    envvar="FRAMERUN_BENCH_DOC",
    help="The Markdown file whose marked section --write-doc replaces.",
)
@click.option(
    "--duration",
    type=float,
    default=600.0,
    show_default=True,
    envvar="FRAMERUN_BENCH_DURATION",
    help="Video length in seconds.",
)
@click.option("--width", type=int, default=1920, show_default=True, envvar="FRAMERUN_BENCH_WIDTH")
@click.option("--height", type=int, default=1080, show_default=True, envvar="FRAMERUN_BENCH_HEIGHT")
@click.option("--fps", type=float, default=30.0, show_default=True, envvar="FRAMERUN_BENCH_FPS")
@click.option(
    "--vcpu",
    type=int,
    default=4,
    show_default=True,
    envvar="FRAMERUN_BENCH_VCPU",
    help="vCPUs per instance (one page per vCPU).",
)
@click.option(
    "--memory-gib",
    type=float,
    default=8.0,
    show_default=True,
    envvar="FRAMERUN_BENCH_MEMORY_GIB",
    help="Memory per instance, GiB.",
)
@click.option(
    "--instances",
    "instance_counts",
    type=int,
    multiple=True,
    envvar="FRAMERUN_BENCH_INSTANCES",
    help="Instance counts to predict (repeat; default 1 16 64 256 400).",
)
@click.option(
    "--page",
    type=click.Choice(["typical", "heavy"]),
    default="typical",
    show_default=True,
    envvar="FRAMERUN_BENCH_PAGE",
    help="Per-frame cost: make bench's typical page or bench-peer's heaviest.",
)
@click.option(
    "--site-mb",
    type=float,
    default=1.0,
    show_default=True,
    envvar="FRAMERUN_BENCH_SITE_MB",
    help="Size of the site archive each instance downloads.",
)
def bench(model: bool, write_doc: bool, doc: Path, **job_options: Any) -> None:
    """Predict a distributed render's wall time and cost (--model); the measured
    benchmarks run from a checkout with `make bench` and `make bench-peer`."""
    if not model:
        click.echo(
            "framerun bench --model predicts a distributed render's wall time and cost from "
            "figures measured on this project (see --help).\n"
            "The measurements run from a checkout: `make bench` (the engine), "
            "`make bench-peer` (against HyperFrames), scripts/measure_overheads.py (the "
            "model's overheads)."
        )
        return
    try:
        _run(doc if write_doc else None, **job_options)
    except FramerunError as exc:
        fail(exc)


def _run(
    doc: Path | None,
    *,
    duration: float,
    width: int,
    height: int,
    fps: float,
    vcpu: int,
    memory_gib: float,
    instance_counts: tuple[int, ...],
    page: str,
    site_mb: float,
) -> None:
    from framerun.costmodel import ISSUE_INSTANCES, Job, predict_many
    from framerun.costmodel_report import describe, with_ceiling
    from framerun_service.render.throughput import HEAVY, TYPICAL

    if not duration > 0 or not fps > 0:
        raise InvalidConfigError(f"--duration and --fps must be > 0, got {duration:g} and {fps:g}")
    job = Job(
        frames=math.ceil(duration * fps - 1e-9),
        width=width,
        height=height,
        fps=fps,
        vcpu=vcpu,
        memory_gib=memory_gib,
        site_mb=site_mb,
        cost=HEAVY if page == "heavy" else TYPICAL,
    )
    counts = instance_counts or ISSUE_INSTANCES
    bad = [n for n in counts if n < 1]
    if bad:
        raise InvalidConfigError(f"--instances must be ≥ 1, got {bad[0]}")
    predictions = with_ceiling(job, predict_many(job, sorted(set(counts))))
    _print_table(predictions, title=describe(job))
    if doc is not None:
        _write_doc(doc, job, predictions, points=sorted(set(counts)))


def _print_table(predictions: list[Prediction], *, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from framerun.costmodel_report import DISCLAIMER, HEADER, row

    table = Table(title=title, title_justify="left")
    for name in HEADER:
        table.add_column(name, justify="left" if name == "note" else "right")
    for p in predictions:
        table.add_row(*row(p))
    console = Console(width=140)
    console.print(table)
    console.print(DISCLAIMER, style="dim")


def _write_doc(doc: Path, job: Job, predictions: list[Prediction], *, points: list[int]) -> None:
    from framerun.costmodel_report import PLOT_NAME, markdown, plot, replace_section

    try:
        text = doc.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise InvalidConfigError(f"cannot read --doc '{doc}': {exc.strerror}") from None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InvalidConfigError(
            "--write-doc draws its plot with matplotlib: pip install matplotlib (or framerun[dev])"
        ) from None
    try:
        plot(job, doc.with_name(PLOT_NAME), points=points)
        doc.write_text(replace_section(text, markdown(job, predictions)), encoding="utf-8")
    except OSError as exc:
        raise InvalidConfigError(
            f"cannot write --doc '{doc}' or its plot: {exc.strerror}; check the folder exists"
        ) from None
    click.echo(f"wrote the model's section of {doc} and {doc.with_name(PLOT_NAME)}", err=True)
