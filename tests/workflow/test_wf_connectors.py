"""The emulator's per-execution limits and its executions connector, as Google has them.

Cloud Workflows runs at most 20 branches or iterations at once per execution, so
parallel steps side by side or nested share 20; a child execution started through
the executions connector (``run``) has its own 20. The connector refuses what the
Executions API refuses (an argument over 32 KB: 400; an unknown workflow: 404), and
a child that fails surfaces as ``OperationError`` carrying the child execution.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from framerun.local.workflows.executions import ExecutionRecord, ExecutionStore
from tests.workflow.wf_harness import FakeServer

RUN = "googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run"
GET = "googleapis.workflowexecutions.v1.projects.locations.workflows.executions.get"

# Two parallel steps side by side (two branches), each asking for 20 at once.
SIDE_BY_SIDE = """
main:
  params: [args]
  steps:
    - both:
        parallel:
          branches:
            - left:
                steps:
                  - fanLeft:
                      parallel:
                        concurrency_limit: 20
                        for:
                          value: i
                          range: [1, 30]
                          steps:
                            - getLeft:
                                call: http.get
                                args:
                                  url: ${args.url + "/left/" + string(i)}
            - right:
                steps:
                  - fanRight:
                      parallel:
                        concurrency_limit: 20
                        for:
                          value: i
                          range: [1, 30]
                          steps:
                            - getRight:
                                call: http.get
                                args:
                                  url: ${args.url + "/right/" + string(i)}
"""

# A parent that runs one child per group; each child fans out 20 at once.
PARENT_AND_CHILDREN = f"""
main:
  params: [args]
  steps:
    - route:
        switch:
          - condition: ${{map.get(args, "group") != null}}
            steps:
              - fan:
                  parallel:
                    concurrency_limit: 20
                    for:
                      value: i
                      range: [1, 20]
                      steps:
                        - get:
                            call: http.get
                            args:
                              url: ${{args.url + "/" + string(args.group) + "/" + string(i)}}
              - childDone:
                  return: ${{args.group}}
    - groups:
        assign:
          - results: []
    - runChildren:
        parallel:
          shared: [results]
          for:
            value: g
            range: [1, 3]
            steps:
              - runChild:
                  call: {RUN}
                  args:
                    workflow_id: ${{sys.get_env("GOOGLE_CLOUD_WORKFLOW_ID")}}
                    argument:
                      url: ${{args.url}}
                      group: ${{g}}
                  result: r
              - keep:
                  assign:
                    - results: ${{list.concat(results, r)}}
    - done:
        return: ${{results}}
"""

CALL_CHILD = f"""
main:
  params: [args]
  steps:
    - route:
        switch:
          - condition: ${{map.get(args, "child") != null}}
            steps:
              - childWork:
                  call: sys.sleep
                  args:
                    seconds: ${{args.sleep}}
              - childFails:
                  switch:
                    - condition: ${{args.child == "fail"}}
                      raise:
                        code: CHILD_BROKE
                        message: the child broke
              - childDone:
                  return: ok
    - build:
        assign:
          - childArgument: ${{args.argument}}
    - grow:
        switch:
          - condition: ${{map.get(args, "pad") != null}}
            assign:
              - childArgument.pad1: ${{args.pad}}
              - childArgument.pad2: ${{args.pad}}
    - start:
        try:
          call: {RUN}
          args:
            workflow_id: ${{args.workflow}}
            argument: ${{childArgument}}
            connector_params:
              timeout: ${{args.timeout}}
          result: r
        except:
          as: e
          steps:
            - report:
                return: ${{e}}
    - done:
        return: ${{r}}
"""


@pytest.fixture
def store() -> Iterator[ExecutionStore]:
    store = ExecutionStore(project="p", location="l")
    yield store
    store.shutdown()


def _run(store: ExecutionStore, source: str, argument: Any) -> ExecutionRecord:
    store.deploy("w", textwrap.dedent(source))
    record = store.create(store.workflow_name("w"), json.dumps(argument))
    return store.wait(record.name, timeout=60)


def _result(record: ExecutionRecord) -> Any:
    assert record.state == "SUCCEEDED", record.error_payload
    return json.loads(record.result or "null")


def test_parallel_steps_side_by_side_share_the_executions_20(store: ExecutionStore) -> None:
    with FakeServer(lambda r: (200, "ok"), delay_s=0.15) as server:
        _result(_run(store, SIDE_BY_SIDE, {"url": server.url}))
    assert len(server.requests) == 60
    assert server.max_in_flight == 20  # 2 × 20 asked for, 20 per execution granted


def test_child_executions_each_get_their_own_20(store: ExecutionStore) -> None:
    with FakeServer(lambda r: (200, "ok"), delay_s=0.3) as server:
        record = _run(store, PARENT_AND_CHILDREN, {"url": server.url})
    assert sorted(_result(record)) == [1, 2, 3]
    assert len(server.requests) == 60
    assert 20 < server.max_in_flight <= 60  # past one execution's cap, through children
    executions = store.list_executions(store.workflow_name("w"))
    assert len(executions) == 4 and all(e.state == "SUCCEEDED" for e in executions)


def _call_child(store: ExecutionStore, **argument: Any) -> Any:
    defaults = {"workflow": "w", "argument": {"child": "ok", "sleep": 0}, "timeout": 1800}
    return _result(_run(store, CALL_CHILD, {**defaults, **argument}))


def test_run_returns_the_childs_result(store: ExecutionStore) -> None:
    assert _call_child(store) == "ok"


def test_a_failed_child_is_an_operation_error_carrying_the_child(store: ExecutionStore) -> None:
    error = _call_child(store, argument={"child": "fail", "sleep": 0})
    assert error["tags"] == ["OperationError"]
    child = error["operation"]
    assert child["state"] == "FAILED"
    assert json.loads(child["error"]["payload"])["code"] == "CHILD_BROKE"
    assert json.loads(child["argument"]) == {"child": "fail", "sleep": 0}


def test_an_argument_over_32_kb_is_refused_with_400(store: ExecutionStore) -> None:
    error = _call_child(store, pad="x" * 17_000)  # 17 KB here, twice that for the child
    assert (error["tags"], error["code"]) == (["HttpError"], 400)
    assert "32 KB" in error["message"]
    assert len(store.list_executions(store.workflow_name("w"))) == 1  # no child started


def test_an_unknown_workflow_is_404(store: ExecutionStore) -> None:
    error = _call_child(store, workflow="nope")
    assert (error["tags"], error["code"]) == (["HttpError"], 404)


def test_the_connector_timeout_is_a_timeout_error(store: ExecutionStore) -> None:
    error = _call_child(store, argument={"child": "ok", "sleep": 5}, timeout=0.3)
    assert error["tags"] == ["TimeoutError"]


@pytest.mark.parametrize("timeout", [0, -1, "soon", 31_536_001])
def test_a_bad_connector_timeout_is_refused(store: ExecutionStore, timeout: Any) -> None:
    error = _call_child(store, timeout=timeout)
    assert error["tags"] == ["ValueError"] and "connector_params.timeout" in error["message"]


def test_get_shows_an_execution_as_the_rest_api_does(store: ExecutionStore) -> None:
    source = f"""
    main:
      steps:
        - init:
            assign:
              - id: ${{sys.get_env("GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID")}}
        - me:
            call: {GET}
            args:
              name: ${{"projects/p/locations/l/workflows/w/executions/" + id}}
            result: e
        - done:
            return: ${{e}}
    """
    record = _run(store, source, None)
    view = _result(record)
    assert (view["name"], view["state"]) == (record.name, "ACTIVE")  # read while it ran
    missing = source.replace('/executions/" + ', '/executions/x" + ')
    store.deploy("w", textwrap.dedent(missing))
    failed = store.wait(store.create(store.workflow_name("w"), "").name, timeout=20)
    assert failed.state == "FAILED", failed.result
    payload = json.loads(failed.error_payload or "{}")
    assert (payload["tags"], payload["code"]) == (["HttpError"], 404), payload


def test_an_unknown_connector_argument_is_a_syntax_error(store: ExecutionStore) -> None:
    from framerun.local.workflows import WorkflowDefinitionError

    source = f"""
    main:
      steps:
        - start:
            call: {RUN}
            args:
              workflow_id: w
              labels: {{a: b}}
    """
    with pytest.raises(WorkflowDefinitionError, match="has no argument 'labels'"):
        store.deploy("w", textwrap.dedent(source))
