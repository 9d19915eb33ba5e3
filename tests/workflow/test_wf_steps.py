"""Each step kind, as small YAML workflows run through the interpreter."""

from __future__ import annotations

import textwrap

import pytest

from framerun.local.workflows import (
    ExecutionContext,
    UnsupportedSyntaxError,
    WorkflowDefinitionError,
    WorkflowSyntaxError,
    load_workflow,
)
from framerun.local.workflows.runtime import MAX_STEPS
from tests.workflow.wf_harness import SleepRecorder, fail, run

# -- assign ----------------------------------------------------------------------------


def test_assign_paths_create_and_update_nested_values() -> None:
    result = run(
        """
        main:
          steps:
            - init:
                assign:
                  - m: {}
                  - l: [1, 2, 3]
                  - i: 2
                  - m.a.b: 1
                  - m["k"]: ${m.a.b + 1}
                  - l[i]: 30
                  - l[0]: ${l[2]}
            - done:
                return: ${[m, l]}
        """
    )
    assert result == [{"a": {"b": 1}, "k": 2}, [30, 2, 30]]


def test_assignment_copies_values() -> None:
    # b = a, then b.x = 1 must leave a alone: Workflows values are not references.
    result = run(
        """
        main:
          steps:
            - init:
                assign:
                  - a: {x: 0}
                  - b: ${a}
                  - b.x: 1
            - done:
                return: ${[a.x, b.x]}
        """
    )
    assert result == [0, 1]


def test_assign_into_a_missing_variable_or_bad_index_fails() -> None:
    assert fail("main:\n  steps:\n    - a:\n        assign:\n          - nope.x: 1\n")["tags"] == [
        "KeyError"
    ]
    payload = fail(
        "main:\n  steps:\n    - a:\n        assign:\n          - l: [1]\n          - l[5]: 1\n"
    )
    assert payload["tags"] == ["IndexError"]


# -- switch and next -------------------------------------------------------------------


SWITCH = """
main:
  params: [args]
  steps:
    - pick:
        switch:
          - condition: ${args.n < 0}
            raise: {message: negative, tags: [ValueError]}
          - condition: ${args.n == 0}
            return: zero
          - condition: ${args.n == 1}
            assign:
              - label: one
            next: done
          - condition: ${args.n == 2}
            steps:
              - two:
                  assign:
                    - label: two
          - condition: true
            next: big
    - fallthrough:
        assign:
          - label: ${label + " (fell through)"}
        next: done
    - big:
        assign:
          - label: big
    - done:
        return: ${label}
"""


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, "zero"), (1, "one"), (2, "two (fell through)"), (7, "big")],
)
def test_switch(n: int, expected: str) -> None:
    assert run(SWITCH, {"n": n}) == expected


def test_switch_raise() -> None:
    assert fail(SWITCH, {"n": -1}) == {"message": "negative", "tags": ["ValueError"]}


def test_switch_condition_must_be_boolean() -> None:
    payload = fail(
        """
        main:
          steps:
            - s:
                switch:
                  - condition: ${1}
                    return: 1
        """
    )
    assert payload["tags"] == ["TypeError"]


def test_next_loops_backwards_and_end_stops() -> None:
    result = run(
        """
        main:
          steps:
            - init:
                assign:
                  - i: 0
            - count:
                assign:
                  - i: ${i + 1}
            - again:
                switch:
                  - condition: ${i < 5}
                    next: count
                next: finish
            - never:
                return: unreachable
            - finish:
                next: end
        """
    )
    assert result is None


# -- loops -----------------------------------------------------------------------------


def test_for_in_with_index_break_and_continue() -> None:
    result = run(
        """
        main:
          steps:
            - init:
                assign:
                  - seen: []
            - loop:
                for:
                  value: v
                  index: i
                  in: [a, b, c, d, e]
                  steps:
                    - skip:
                        switch:
                          - condition: ${v == "b"}
                            next: continue
                          - condition: ${v == "d"}
                            next: break
                    - keep:
                        assign:
                          - seen: ${list.concat(seen, string(i) + v)}
            - done:
                return: ${seen}
        """
    )
    assert result == ["0a", "2c"]


def test_range_is_inclusive_and_takes_expressions() -> None:
    result = run(
        """
        main:
          steps:
            - init:
                assign:
                  - total: 0
                  - n: 4
            - loop:
                for:
                  value: k
                  range: [1, '${n - 1}']
                  steps:
                    - add:
                        assign:
                          - total: ${total * 10 + k}
            - done:
                return: ${total}
        """
    )
    assert result == 123


def test_loop_variables_stay_inside_the_loop() -> None:
    payload = fail(
        """
        main:
          steps:
            - loop:
                for:
                  value: v
                  in: [1]
                  steps:
                    - inner:
                        assign:
                          - created: ${v}
            - after:
                return: ${created}
        """
    )
    assert payload["tags"] == ["KeyError"]


# -- subworkflows, raise, except -------------------------------------------------------


def test_subworkflow_call_with_defaults_and_result() -> None:
    result = run(
        """
        main:
          steps:
            - call1:
                call: greet
                args:
                  name: Ada
                result: one
            - call2:
                call: greet
                args:
                  name: Bob
                  greeting: Hi
                result: two
            - done:
                return: ${[one, two]}
        greet:
          params: [name, greeting: Hello]
          steps:
            - make:
                return: ${greeting + ", " + name}
        """
    )
    assert result == ["Hello, Ada", "Hi, Bob"]


def test_subworkflows_do_not_see_the_callers_variables() -> None:
    payload = fail(
        """
        main:
          steps:
            - init:
                assign:
                  - secret: 1
            - c:
                call: peek
        peek:
          steps:
            - p:
                return: ${secret}
        """
    )
    assert payload["tags"] == ["KeyError"]


def test_recursion_is_capped() -> None:
    payload = fail(
        """
        main:
          steps:
            - c:
                call: down
        down:
          steps:
            - again:
                call: down
        """
    )
    assert payload["tags"] == ["RecursionError"]


def test_raise_and_except() -> None:
    result = run(
        """
        main:
          params: [args]
          steps:
            - t1:
                try:
                  raise: plain string
                except:
                  as: e
                  steps:
                    - keep1:
                        assign:
                          - first: ${e}
            - t2:
                try:
                  steps:
                    - boom:
                        raise:
                          code: 7
                          message: ${"cus" + "tom"}
                          tags: [Mine]
                except:
                  as: e
                  steps:
                    - keep2:
                        assign:
                          - second: ${e}
            - t3:
                try:
                  assign:
                    - x: ${args.missing}
                except:
                  as: e
                  steps:
                    - keep3:
                        assign:
                          - third: ${e.tags}
            - done:
                return: ${[first, second, third]}
        """,
        {"present": 1},
    )
    assert result == [
        "plain string",
        {"code": 7, "message": "custom", "tags": ["Mine"]},
        ["KeyError"],
    ]


def test_error_records_where_it_was_raised() -> None:
    from framerun.local.workflows import WorkflowError, run_workflow

    workflow = load_workflow(
        textwrap.dedent(
            """
            main:
              steps:
                - outer:
                    call: inner
            inner:
              steps:
                - fails:
                    raise: oops
            """
        )
    )
    with pytest.raises(WorkflowError) as info:
        run_workflow(workflow)
    assert info.value.trace == [("main", "outer"), ("inner", "fails")]


# -- sys.* -----------------------------------------------------------------------------


def test_sys_log_records_on_the_execution() -> None:
    context = ExecutionContext()
    from framerun.local.workflows import run_workflow

    workflow = load_workflow(
        textwrap.dedent(
            """
            main:
              steps:
                - a:
                    call: sys.log
                    args:
                      json: {k: [1]}
                      severity: INFO
                - b:
                    call: sys.log
                    args:
                      text: ${"n=" + string(2)}
                - c:
                    call: sys.log
                    args:
                      data: 5
                      severity: ERROR
            """
        )
    )
    run_workflow(workflow, context=context)
    assert [(e.severity, e.payload, e.step) for e in context.logs] == [
        ("INFO", {"k": [1]}, "a"),
        ("DEFAULT", "n=2", "b"),
        ("ERROR", "5", "c"),
    ]


def test_sys_sleep_waits_through_the_injected_sleep() -> None:
    sleep = SleepRecorder()
    run(
        """
        main:
          steps:
            - nap:
                call: sys.sleep
                args:
                  seconds: 1.5
        """,
        sleep=sleep,
    )
    assert sleep.delays == [1.5]


def test_sys_get_env_reads_built_ins_and_user_variables() -> None:
    result = run(
        """
        main:
          steps:
            - done:
                return:
                  - ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID")}
                  - ${sys.get_env("FRAMERUN_SERVICE_URL")}
        """,
        environment={
            "GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID": "exec-1",
            "FRAMERUN_SERVICE_URL": "http://svc",
        },
    )
    assert result == ["exec-1", "http://svc"]


def test_a_workflow_may_be_a_plain_list_of_steps() -> None:
    assert run("- only:\n    return: 1\n") == 1


def test_yaml_1_2_keeps_no_and_dates_as_strings() -> None:
    result = run(
        """
        main:
          steps:
            - no:
                return: ${[ "no", "2024-01-01" ]}
        """
    )
    assert result == ["no", "2024-01-01"]


# -- limits ----------------------------------------------------------------------------


def test_variables_over_512_kb_raise_resource_limit() -> None:
    source = """
        main:
          params: [args]
          steps:
            - init:
                assign:
                  - s: ${args.seed}
            - grow:
                for:
                  value: i
                  range: [1, 10]
                  steps:
                    - double:
                        assign:
                          - s: ${s + s}
        """
    payload = fail(source, {"seed": "x" * 1024})  # 1 KB doubled ten times is 1 MB
    assert payload["tags"] == ["ResourceLimitError"]
    assert "512" in payload["message"]
    assert run(source.replace("10]", "8]"), {"seed": "x" * 1024}) is None  # 256 KB fits


def test_a_large_argument_alone_exceeds_the_memory_limit() -> None:
    payload = fail("main:\n  params: [a]\n  steps:\n    - d:\n        return: 1\n", "x" * 600_000)
    assert payload["tags"] == ["ResourceLimitError"]


def test_step_budget() -> None:
    assert MAX_STEPS == 100_000
    payload = fail(
        """
        main:
          steps:
            - spin:
                next: spin
        """,
        max_steps=50,
    )
    assert payload["tags"] == ["ResourceLimitError"]


# -- load-time validation --------------------------------------------------------------


def load(source: str) -> None:
    load_workflow(textwrap.dedent(source))


def test_unsupported_syntax_names_the_step() -> None:
    with pytest.raises(UnsupportedSyntaxError) as info:
        load(
            """
            main:
              steps:
                - ok:
                    assign:
                      - a: 1
                - waitForCallback:
                    callback: {}
            """
        )
    assert str(info.value) == (
        "UnsupportedSyntaxError: step 'waitForCallback' (routine 'main'): "
        "'callback' is not supported by the local emulator"
    )


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("call: googleapis.storage.v1.objects.get", "call 'googleapis.storage.v1.objects.get'"),
        ("call: events.await_callback", "call 'events.await_callback'"),
        (
            "call: http.post\nargs: {url: 'http://x', private_service_name: p}",
            "argument 'private_service_name'",
        ),
        ("call: http.get\nargs: {url: 'http://x', auth: {type: OAuth2}}", "OAuth2"),
        (
            "parallel:\n  exception_policy: unhandled\n"
            "  branches: [{b: {steps: [{s: {return: 1}}]}}]",
            "exception_policy",
        ),
        (
            "parallel:\n  for: {value: v, in: [1], steps: [{s: {return: 1}}]}",
            "'return' inside a parallel step",
        ),
        (
            "parallel:\n  for: {value: v, in: [1], steps: [{s: {next: break}}]}",
            "'next: break' inside a parallel for",
        ),
        ("retry: ${retry.custom}\ntry: {assign: [{a: 1}]}", "retry policy"),
    ],
)
def test_unsupported_constructs_are_refused_at_load(snippet: str, message: str) -> None:
    source = "main:\n  steps:\n    - s1:\n        " + snippet.replace("\n", "\n        ")
    with pytest.raises(UnsupportedSyntaxError, match=message) as info:
        load_workflow(source)
    assert "step 's" in str(info.value)


THREE_DEEP = textwrap.dedent(
    """
    main:
      steps:
        - p:
            parallel:
              branches:
                - b1:
                    steps:
                      - q:
                          parallel:
                            branches:
                              - b2:
                                  steps:
                                    - r:
                                        parallel:
                                          branches:
                                            - b3:
                                                steps:
                                                  - s:
                                                      assign:
                                                        - a: 1
    """
)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("helper:\n  steps:\n    - a:\n        return: 1\n", "no 'main'"),
        ("main:\n  steps:\n    - a:\n        next: nowhere\n", "'next: nowhere'"),
        ("main:\n  steps:\n    - a:\n        next: break\n", "only valid inside a for"),
        (
            "main:\n  steps:\n    - a:\n        assign: [{x: 1}]\n    - a:\n        return: 1\n",
            "unique",
        ),
        ("main:\n  steps:\n    - a:\n        call: missing\n", "no subworkflow has that name"),
        (
            "main:\n  steps:\n    - a:\n        call: f\n"
            "f:\n  params: [x]\n  steps:\n    - r:\n        return: 1\n",
            "without its parameter",
        ),
        (
            "main:\n  steps:\n    - a:\n        call: f\n        args: {y: 1}\n"
            "f:\n  params: [x]\n  steps:\n    - r:\n        return: 1\n",
            "no parameter 'y'",
        ),
        ("main:\n  params: [a, b]\n  steps:\n    - r:\n        return: 1\n", "at most one"),
        ("main:\n  steps:\n    - a:\n        assign: [{x: 1}]\n        call: f\n", "one thing"),
        ("main:\n  steps:\n    - a:\n        call: sys.log\n        args: {}\n", "exactly one"),
        ("main:\n  steps:\n    - a:\n        raise: x\n        next: a\n", "'next' cannot"),
        ("main:\n  steps:\n    - a:\n        assign: [{1 + 1: x}]\n", "cannot assign"),
        (
            "main:\n  steps:\n    - a:\n        return: 1\n    - a2:\n      x: 1\n  steps: []\n",
            "duplicate",
        ),
        (
            "main:\n  steps:\n    - a:\n        try: {call: http.get, args: {url: u}}\n"
            "        retry: {predicate: '${nope}', max_retries: 1}\n",
            "no subworkflow",
        ),
        (
            THREE_DEEP,
            "nest at most 2",
        ),
        (
            "main:\n  steps:\n    - a:\n        call: http.get\n        args: {uri: x}\n",
            "no argument",
        ),
    ],
)
def test_definition_errors(source: str, message: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=message):
        load_workflow(source)


def test_syntax_and_unsupported_are_both_value_errors() -> None:
    assert issubclass(WorkflowSyntaxError, ValueError)
    assert issubclass(UnsupportedSyntaxError, ValueError)
