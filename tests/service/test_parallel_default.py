"""maxParallelChunks when a render does not say: the default, capped at the service's
instances (actions._parallel_chunks). An explicit value past them is refused."""

from __future__ import annotations

import pytest

from framerun_service.actions import _parallel_chunks
from framerun_service.core.errors import InvalidConfigError
from framerun_service.render.plan import DEFAULT_MAX_PARALLEL_CHUNKS


@pytest.mark.parametrize(
    ("max_instances", "expected"),
    [(None, DEFAULT_MAX_PARALLEL_CHUNKS), (100, DEFAULT_MAX_PARALLEL_CHUNKS), (5, 5), (1, 1)],
)
def test_the_default_is_capped_at_the_instances(max_instances: int | None, expected: int) -> None:
    assert _parallel_chunks(None, max_instances) == expected


def test_an_explicit_value_is_kept_or_refused_with_the_fix() -> None:
    assert _parallel_chunks(40, None) == 40
    assert _parallel_chunks(5, 5) == 5
    with pytest.raises(InvalidConfigError, match="lower maxParallelChunks to 1") as info:
        _parallel_chunks(4, 1)
    assert "1 instance (one chunk each)" in str(info.value)
