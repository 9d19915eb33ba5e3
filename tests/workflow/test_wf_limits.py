"""Each Cloud Workflows limit the emulator enforces, refused as Google refuses it.

The figures are the quotas page's (https://cloud.google.com/workflows/quotas): the
parallel ones (20 at once per execution, 10 branches per step, nesting 2 deep), the
executions connector's (32 KB argument) and the per-execution ones (steps, memory,
call depth) are tested beside their features in test_wf_connectors.py,
test_wf_parallel.py and test_wf_steps.py; these are the rest.
"""

from __future__ import annotations

import textwrap

import pytest

from framerun.local.workflows import WorkflowDefinitionError, load_workflow
from framerun.local.workflows.loader import MAX_BRANCHES, MAX_CONDITIONS, MAX_SOURCE_BYTES
from tests.workflow.wf_harness import FakeServer, fail


def _branches(count: int) -> str:
    branches = "".join(
        f"\n            - b{i}:\n                steps:\n                  - s{i}:\n"
        f"                      assign:\n                        - x: {i}"
        for i in range(count)
    )
    return f"main:\n  steps:\n    - fan:\n        parallel:\n          branches:{branches}\n"


def test_ten_branches_load_and_eleven_are_refused() -> None:
    load_workflow(_branches(MAX_BRANCHES))
    with pytest.raises(WorkflowDefinitionError, match=f"at most {MAX_BRANCHES} branches"):
        load_workflow(_branches(MAX_BRANCHES + 1))


def _switch(count: int) -> str:
    conditions = "".join(
        f"""
              - condition: ${{x == {i}}}
                next: end"""
        for i in range(count)
    )
    return f"""
    main:
      steps:
        - init:
            assign:
              - x: 0
        - pick:
            switch:{conditions}
    """


def test_fifty_conditions_load_and_fifty_one_are_refused() -> None:
    load_workflow(textwrap.dedent(_switch(MAX_CONDITIONS)))
    with pytest.raises(WorkflowDefinitionError, match=f"at most {MAX_CONDITIONS} conditions"):
        load_workflow(textwrap.dedent(_switch(MAX_CONDITIONS + 1)))


def test_a_source_over_128_kb_is_refused() -> None:
    padding = "# " + "x" * 998 + "\n"
    small = "main:\n  steps:\n    - done:\n        return: 1\n"
    load_workflow(small + padding * 100)
    with pytest.raises(WorkflowDefinitionError, match="128 KB"):
        load_workflow(small + padding * (MAX_SOURCE_BYTES // len(padding) + 1))


def test_an_http_response_over_2_mb_is_a_resource_limit_error() -> None:
    big = "x" * (2 * 1024 * 1024 + 1)
    with FakeServer(lambda request: (200, big)) as server:
        payload = fail(
            """
            main:
              params: [args]
              steps:
                - get:
                    call: http.get
                    args:
                      url: ${args.url}
            """,
            {"url": server.url},
        )
    assert payload["tags"] == ["ResourceLimitError"] and "2 MB" in payload["message"]
