"""What a distributed render costs, estimated from what it recorded. IO-free.

A render bills two products: Cloud Run (vCPU-seconds, GiB-seconds and requests
of the render service) and Workflows (the steps of the render workflow). The
service records how long each Action ran (``seconds`` in every chunk record and
in ``result.json``), so the estimate follows the render as it goes.

Amounts are ``Decimal``: the parts then add up *exactly* to the total, and only
:attr:`Costs.display_cost` rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framerun_service.core.wire import PlanEnvelope

# ---- list prices: the one place they live -------------------------------------------
#
# USD list prices, taken as of PRICES_AS_OF from Google's published pricing pages
# (checked against stored copies of those pages, not live; re-check and bump the date
# when changing them). Tier 1 regions (e.g. us-central1, europe-west1), before the
# monthly free tiers, committed-use discounts and taxes.
PRICES_AS_OF = "2026-11-23"
CURRENCY = "USD"

# Cloud Run services, request-based billing ("CPU only allocated during request
# processing"), Tier 1: https://cloud.google.com/run/pricing
CLOUD_RUN_VCPU_SECOND_USD = Decimal("0.000024")  # per vCPU-second
CLOUD_RUN_GIB_SECOND_USD = Decimal("0.0000025")  # per GiB-second
CLOUD_RUN_MILLION_REQUESTS_USD = Decimal("0.40")  # per 1,000,000 requests
# "Cloud Run charges you only for the resources you use, rounded up to the nearest
# 100 millisecond" (same page): each request's time is rounded up to this.
CLOUD_RUN_BILLING_GRANULARITY_S = Decimal("0.1")
# An instance kept warm by min_instances (terraform/variables.tf) that serves no request
# is billed at the same page's lower "idle min instance" rate, Tier 1, request-based
# billing (not checked against a stored copy of the page: re-check before relying on it).
CLOUD_RUN_IDLE_VCPU_SECOND_USD = Decimal("0.0000025")  # per vCPU-second, idle
CLOUD_RUN_IDLE_GIB_SECOND_USD = Decimal("0.0000025")  # per GiB-second, idle
HOURS_PER_MONTH = 730  # Google's pricing pages' month

# Workflows, internal steps: https://cloud.google.com/workflows/pricing
# Calls to Cloud Run on *.run.app are internal steps (same page). A service behind a
# custom domain bills its calls as external steps ($0.025 per 1,000) instead.
WORKFLOWS_1000_INTERNAL_STEPS_USD = Decimal("0.01")  # per 1,000 internal steps

DISCLAIMER = (
    f"Estimate at Google's {CURRENCY} list prices as of {PRICES_AS_OF} (Cloud Run "
    "request-based billing and Workflows internal steps, Tier 1 regions), before free "
    "tiers, discounts and taxes; Cloud Storage, networking, cold starts and retried "
    "steps are not included, and the plan step's own run time is not recorded."
)

# ---- the render workflow's steps (workflows/render.yaml) --------------------------------
#
# Workflows bills every executed step: assignments, switches, calls (http.post,
# sys.log, subworkflows, connectors) each count once, and "each retry attempt counts
# as a step execution". On the happy path, with N chunks:
#
#   route, init, plan                       3
#   logPlan, renderChunks, parallel step    3
#   per chunk, in the render's execution    3   renderUnlessFailed (switch),
#                                               renderChunk (call), post (http.post)
#   checkChunks, assemble, notifySuccess,   5
#   notify's send, done
#                                           ---
#   one execution (≤ 20 in flight)          11 + 3·N
#
# Past 20 chunks in flight the chunks run in G child executions (render/fanout.py):
#
#   per group, in the render's execution    3   startGroup, runGroup (connector), keepGroupFailure
#   per group, in its child execution       6   route, renderGroup (call), initGroup,
#                                               the parallel step, groupRendered, groupDone
#   per chunk, in a child                   4   readParent (connector), renderUnlessStopped,
#                                               renderGroupChunk (call), post (http.post)
#                                           ---
#   fan-out                                 11 + 9·G + 4·N
#
# tests/workflow/test_wf_fanout.py checks both totals against the emulator's own count.
# A retried http.post adds 1 step per extra attempt plus the ``is_transient``
# predicate's steps, and a failure adds the ``service_error`` subworkflow's steps; the
# estimate leaves those out.
STEPS_BEFORE_PLAN = 3  # route, init, plan
STEPS_AFTER_PLAN = 3  # logPlan, renderChunks, the parallel step
STEPS_PER_CHUNK = 3  # renderUnlessFailed, renderChunk, post
STEPS_PER_GROUP = 9  # 3 in the render's execution, 6 in the child's
STEPS_PER_GROUPED_CHUNK = 4  # readParent, renderUnlessStopped, renderGroupChunk, post
STEPS_TO_FINISH = 5  # checkChunks, assemble, notifySuccess, send, done


def envelope_groups(envelope: PlanEnvelope | None) -> int:
    """How many child executions a planned render fans out to (0 before it is planned)."""
    if envelope is None or envelope.chunk_count < 1:
        return 0
    from framerun_service.render.fanout import chunk_groups

    return len(chunk_groups(envelope.chunk_count, envelope.max_parallel_chunks))


def estimate_workflow_steps(
    chunks: int, *, groups: int = 0, planned: bool = True, assembled: bool = True
) -> int:
    """Steps executed so far by a render with ``chunks`` chunks rendered (see the table).

    ``groups`` is the number of child executions (0: the render's own execution
    renders every chunk). ``planned``/``assembled`` say whether those steps have run
    yet, so the count (like the cost) only grows while a render is in flight.
    """
    steps = STEPS_BEFORE_PLAN
    if planned:
        steps += STEPS_AFTER_PLAN + STEPS_PER_GROUP * groups
        steps += (STEPS_PER_GROUPED_CHUNK if groups else STEPS_PER_CHUNK) * chunks
    if assembled:
        steps += STEPS_TO_FINISH
    return steps


@dataclass(frozen=True)
class Costs:
    """An estimate in ``currency``; the four parts add up exactly to ``total_usd``."""

    cloud_run_vcpu_usd: Decimal
    cloud_run_memory_usd: Decimal
    cloud_run_requests_usd: Decimal
    workflows_usd: Decimal
    total_usd: Decimal
    display_cost: str
    currency: str = CURRENCY
    disclaimer: str = DISCLAIMER

    def to_json(self) -> dict[str, Any]:
        """Numbers as JSON numbers (floats): for display and charts, not for accounting."""
        return {
            "cloudRunVcpuUsd": float(self.cloud_run_vcpu_usd),
            "cloudRunMemoryUsd": float(self.cloud_run_memory_usd),
            "cloudRunRequestsUsd": float(self.cloud_run_requests_usd),
            "workflowsUsd": float(self.workflows_usd),
            "totalUsd": float(self.total_usd),
            "displayCost": self.display_cost,
            "currency": self.currency,
            "disclaimer": self.disclaimer,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Costs:
        return cls(
            cloud_run_vcpu_usd=Decimal(str(data["cloudRunVcpuUsd"])),
            cloud_run_memory_usd=Decimal(str(data["cloudRunMemoryUsd"])),
            cloud_run_requests_usd=Decimal(str(data["cloudRunRequestsUsd"])),
            workflows_usd=Decimal(str(data["workflowsUsd"])),
            total_usd=Decimal(str(data["totalUsd"])),
            display_cost=data["displayCost"],
            currency=data.get("currency", CURRENCY),
            disclaimer=data.get("disclaimer", DISCLAIMER),
        )


def estimate_costs(
    chunk_seconds: Sequence[float],
    plan_seconds: float | None,
    assemble_seconds: float | None,
    *,
    vcpu: float,
    memory_gib: float,
    workflow_steps: int,
) -> Costs:
    """The cost of the requests that ran, at the list prices above.

    One Cloud Run request per entry of ``chunk_seconds``, plus the plan and the
    assemble request unless their seconds are None ("has not run"). Each
    request's seconds are rounded up to Cloud Run's 100 ms billing granularity
    and billed at ``vcpu`` vCPUs and ``memory_gib`` GiB (the service's limits:
    with one request per instance, the instance is billed for all of them).
    """
    if vcpu <= 0 or memory_gib <= 0:
        raise ValueError(f"vcpu and memory_gib must be > 0, got {vcpu} and {memory_gib}")
    if workflow_steps < 0:
        raise ValueError(f"workflow_steps must be ≥ 0, got {workflow_steps}")
    requests = [*chunk_seconds]
    requests += [s for s in (plan_seconds, assemble_seconds) if s is not None]
    billed_seconds = sum((_billed(s) for s in requests), Decimal(0))
    vcpu_usd = billed_seconds * _decimal(vcpu) * CLOUD_RUN_VCPU_SECOND_USD
    memory_usd = billed_seconds * _decimal(memory_gib) * CLOUD_RUN_GIB_SECOND_USD
    requests_usd = len(requests) * CLOUD_RUN_MILLION_REQUESTS_USD / 1_000_000
    workflows_usd = workflow_steps * WORKFLOWS_1000_INTERNAL_STEPS_USD / 1_000
    total = vcpu_usd + memory_usd + requests_usd + workflows_usd
    return Costs(
        cloud_run_vcpu_usd=vcpu_usd,
        cloud_run_memory_usd=memory_usd,
        cloud_run_requests_usd=requests_usd,
        workflows_usd=workflows_usd,
        total_usd=total,
        display_cost=display_cost(total),
    )


def display_cost(amount: Decimal) -> str:
    """``$0.0042``; ``<$0.0001`` for a positive amount that would round to zero; cents ≥ $1."""
    if amount <= 0:
        return "$0.00"
    if amount < Decimal("0.0001"):
        return "<$0.0001"
    places = Decimal("0.01") if amount >= 1 else Decimal("0.0001")
    return f"${amount.quantize(places, rounding=ROUND_HALF_UP)}"


def _billed(seconds: float) -> Decimal:
    """Seconds rounded *up* to the billing granularity (exactly, in decimal)."""
    value = _decimal(max(seconds, 0.0))
    steps = (value / CLOUD_RUN_BILLING_GRANULARITY_S).to_integral_value(rounding=ROUND_CEILING)
    return steps * CLOUD_RUN_BILLING_GRANULARITY_S


def _decimal(value: float) -> Decimal:
    # str() first: Decimal(0.3) is 0.2999…, Decimal("0.3") is what the record said.
    return Decimal(str(value))
