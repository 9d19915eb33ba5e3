"""estimate_costs: list prices, 100 ms rounding, parts that add up exactly, display."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framerun.costs import (
    CLOUD_RUN_GIB_SECOND_USD,
    CLOUD_RUN_MILLION_REQUESTS_USD,
    CLOUD_RUN_VCPU_SECOND_USD,
    WORKFLOWS_1000_INTERNAL_STEPS_USD,
    Costs,
    display_cost,
    estimate_costs,
    estimate_workflow_steps,
)


def test_a_small_render() -> None:
    costs = estimate_costs([10.0, 10.0, 9.95], 0.5, 2.0, vcpu=4, memory_gib=8, workflow_steps=13)
    seconds = Decimal("32.5")  # 10 + 10 + 10 (9.95 rounded up) + 0.5 + 2.0
    assert costs.cloud_run_vcpu_usd == seconds * 4 * CLOUD_RUN_VCPU_SECOND_USD
    assert costs.cloud_run_memory_usd == seconds * 8 * CLOUD_RUN_GIB_SECOND_USD
    assert costs.cloud_run_requests_usd == 5 * CLOUD_RUN_MILLION_REQUESTS_USD / 1_000_000
    assert costs.workflows_usd == 13 * WORKFLOWS_1000_INTERNAL_STEPS_USD / 1000
    assert costs.total_usd == Decimal("0.003902")  # 0.00312 + 0.00065 + 0.000002 + 0.00013
    assert costs.display_cost == "$0.0039"
    assert costs.currency == "USD" and "list prices" in costs.disclaimer
    assert Costs.from_json(costs.to_json()).display_cost == costs.display_cost


@given(
    chunks=st.lists(st.floats(min_value=0, max_value=1800, allow_nan=False), max_size=50),
    plan=st.none() | st.floats(min_value=0, max_value=60, allow_nan=False),
    assemble=st.none() | st.floats(min_value=0, max_value=600, allow_nan=False),
    vcpu=st.sampled_from([1, 2, 4, 8]),
    memory=st.sampled_from([0.5, 2, 8, 32]),
)
def test_parts_add_up_exactly(
    chunks: list[float], plan: float | None, assemble: float | None, vcpu: int, memory: float
) -> None:
    steps = estimate_workflow_steps(len(chunks))
    costs = estimate_costs(
        chunks, plan, assemble, vcpu=vcpu, memory_gib=memory, workflow_steps=steps
    )
    parts = [
        costs.cloud_run_vcpu_usd,
        costs.cloud_run_memory_usd,
        costs.cloud_run_requests_usd,
        costs.workflows_usd,
    ]
    assert sum(parts, Decimal(0)) == costs.total_usd
    assert sum(reversed(parts), Decimal(0)) == costs.total_usd  # any order: exact decimals
    assert costs.total_usd > 0


def test_workflow_steps_follow_the_workflow() -> None:
    # The emulator's own counts back these: tests/workflow/test_wf_fanout.py.
    assert estimate_workflow_steps(0, planned=False, assembled=False) == 3
    assert estimate_workflow_steps(3, planned=True, assembled=False) == 15
    assert estimate_workflow_steps(3) == 11 + 3 * 3
    assert estimate_workflow_steps(100, groups=3) == 11 + 9 * 3 + 4 * 100


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0", "$0.00"),
        ("0.00004", "<$0.0001"),
        ("0.0042", "$0.0042"),
        ("0.00425", "$0.0043"),
        ("0.5", "$0.5000"),
        ("12.345", "$12.35"),
    ],
)
def test_display(amount: str, shown: str) -> None:
    assert display_cost(Decimal(amount)) == shown


def test_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="vcpu"):
        estimate_costs([1.0], None, None, vcpu=0, memory_gib=1, workflow_steps=1)
