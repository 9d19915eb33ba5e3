"""Parallel steps: real concurrency bounds, shared variables, unhandled branch errors."""

from __future__ import annotations

import pytest

from tests.workflow.wf_harness import FakeServer, Request, fail, run

FAN_OUT = """
main:
  params: [args]
  steps:
    - init:
        assign:
          - done: 0
          - local: untouched
    - fan:
        parallel:
          shared: [done]
          concurrency_limit: ${args.limit}
          for:
            value: i
            range: [1, '${args.n}']
            steps:
              - hit:
                  call: http.get
                  args:
                    url: ${args.url + "/" + string(i)}
              - count:
                  assign:
                    - done: ${done + 1}
                    - local: ${"changed by " + string(i)}
    - out:
        return: ${[done, local]}
"""


def test_concurrency_limit_bounds_requests_in_flight() -> None:
    with FakeServer(lambda r: (200, "ok"), delay_s=0.1) as server:
        result = run(FAN_OUT, {"url": server.url, "limit": 2, "n": 8})
    assert sorted(int(r.path[1:]) for r in server.requests) == list(range(1, 9))
    assert server.max_in_flight == 2  # never more than the limit, and really parallel
    # the shared counter saw every write (each write is atomic; these do not race
    # much at this limit), and the unshared variable kept its value outside
    assert result[1] == "untouched"
    assert 1 <= result[0] <= 8


def test_without_a_limit_branches_run_together() -> None:
    with FakeServer(lambda r: (200, "ok"), delay_s=0.2) as server:
        source = FAN_OUT.replace("          concurrency_limit: ${args.limit}\n", "")
        run(source, {"url": server.url, "n": 5})
    assert server.max_in_flight == 5


def test_shared_writes_are_visible_after_the_step() -> None:
    result = run(
        """
        main:
          steps:
            - init:
                assign:
                  - results: {}
                  - total: []
            - fan:
                parallel:
                  shared: [results]
                  for:
                    value: name
                    index: i
                    in: [a, b, c]
                    steps:
                      - keep:
                          assign:
                            - results[name]: ${i}
                            - total: ${list.concat(total, name)}
            - out:
                return: ${[results, total]}
        """
    )
    assert result == [{"a": 0, "b": 1, "c": 2}, []]


def test_branches_with_shared_variables() -> None:
    result = run(
        """
        main:
          steps:
            - init:
                assign:
                  - user: null
                  - notes: null
            - fetch:
                parallel:
                  shared: [user, notes]
                  branches:
                    - getUser:
                        steps:
                          - u:
                              assign:
                                - user: {name: ada}
                    - getNotes:
                        steps:
                          - n:
                              assign:
                                - notes: [1, 2]
            - out:
                return: ${[user, notes]}
        """
    )
    assert result == [{"name": "ada"}, [1, 2]]


def test_shared_variable_must_exist_before_the_step() -> None:
    payload = fail(
        """
        main:
          steps:
            - fan:
                parallel:
                  shared: [later]
                  branches:
                    - b:
                        steps:
                          - s:
                              assign:
                                - later: 1
        """
    )
    assert payload["tags"] == ["KeyError"]
    assert "later" in payload["message"]


def test_unhandled_branch_errors_surface_after_every_branch_finished() -> None:
    def handler(request: Request) -> tuple[int, object]:
        return (500, {"no": request.path}) if request.path in ("/2", "/4") else (200, "ok")

    with FakeServer(handler, delay_s=0.05) as server:
        payload = fail(FAN_OUT, {"url": server.url, "limit": 2, "n": 6})
    assert len(server.requests) == 6  # continueAll: the failures stopped nothing
    assert payload["tags"] == ["UnhandledBranchError"]
    assert "2 of 6" in payload["message"]
    branches = sorted(payload["branches"], key=lambda b: b["id"])
    assert [b["id"] for b in branches] == ["1", "3"]  # iteration indexes (values 2 and 4)
    assert [b["error"]["code"] for b in branches] == [500, 500]
    assert [b["error"]["body"] for b in branches] == [{"no": "/2"}, {"no": "/4"}]


def test_continue_ends_one_parallel_iteration() -> None:
    result = run(
        """
        main:
          steps:
            - init:
                assign:
                  - kept: []
            - fan:
                parallel:
                  shared: [kept]
                  concurrency_limit: 1
                  for:
                    value: v
                    range: [1, 4]
                    steps:
                      - odd:
                          switch:
                            - condition: ${v % 2 == 1}
                              next: continue
                      - keep:
                          assign:
                            - kept: ${list.concat(kept, v)}
            - out:
                return: ${kept}
        """
    )
    assert result == [2, 4]


def test_nested_parallel_through_a_call_is_a_parallel_nesting_error() -> None:
    payload = fail(
        """
        main:
          steps:
            - outer:
                parallel:
                  for:
                    value: a
                    in: [1]
                    steps:
                      - middle:
                          parallel:
                            for:
                              value: b
                              in: [1]
                              steps:
                                - c:
                                    call: deeper
        deeper:
          steps:
            - inner:
                parallel:
                  branches:
                    - x:
                        steps:
                          - s:
                              assign:
                                - z: 1
        """
    )
    assert payload["tags"] == ["UnhandledBranchError"]
    inner = payload["branches"][0]["error"]["branches"][0]["error"]
    assert inner["tags"] == ["ParallelNestingError"]


@pytest.mark.parametrize("limit", ["0", "-1", "${1.5}", '${"2"}'])
def test_concurrency_limit_must_be_a_positive_integer(limit: str) -> None:
    source = f"""
        main:
          steps:
            - fan:
                parallel:
                  concurrency_limit: {limit}
                  for:
                    value: v
                    in: [1]
                    steps:
                      - s:
                          assign:
                            - x: 1
        """
    from framerun.local.workflows import WorkflowDefinitionError, WorkflowError

    with pytest.raises((WorkflowDefinitionError, WorkflowError)):
        run(source)
