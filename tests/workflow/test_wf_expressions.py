"""Golden tests of the ``${...}`` language, each run through a real (tiny) workflow."""

from __future__ import annotations

import json
from typing import Any

import pytest

from framerun.local.workflows import (
    ExecutionContext,
    UnsupportedSyntaxError,
    WorkflowError,
    WorkflowSyntaxError,
    load_workflow,
    run_workflow,
)

VARIABLES = {
    "m": {"a": {"b": 2}, "s": "str"},
    "l": [10, 20, 30],
    "x": 3,
    "e": {"tags": ["HttpError"], "code": 503},
}
ENV = {"MY_VAR": "hello", "GOOGLE_CLOUD_PROJECT_ID": "proj"}


def evaluate(expression: str) -> Any:
    # JSON is YAML: no quoting traps, and the expression goes through the loader.
    source = json.dumps(
        {
            "main": {
                "steps": [
                    {"init": {"assign": [{k: v} for k, v in VARIABLES.items()]}},
                    {"done": {"return": "${" + expression + "}"}},
                ]
            }
        }
    )
    context = ExecutionContext(environment=ENV, clock=lambda: 1700000000.5)
    return run_workflow(load_workflow(source), context=context)


GOLDEN: list[tuple[str, Any]] = [
    # literals
    ("42", 42),
    ("1.5", 1.5),
    ("-2", -2),
    ('"a\\"b\\n\\u00e9"', 'a"b\né'),
    ("'single'", "single"),
    ("true", True),
    ("False", False),
    ("null", None),
    ('[1, "two", [3], {"k": null}]', [1, "two", [3], {"k": None}]),
    ('{"a": 1, "b": [true]}', {"a": 1, "b": [True]}),
    ("[]", []),
    ("{}", {}),
    # arithmetic
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("7 / 2", 3.5),
    ("get_type(4 / 2)", "double"),
    ("7 // 2", 3),
    ("-7 // 2", -3),
    ("7 % 3", 1),
    ("-7 % 3", -1),
    ("7.5 // 2", 3.0),
    ("1.5 + 1", 2.5),
    ("get_type(1 + 1)", "integer"),
    ("-x", -3),
    ("10 - 4 - 3", 3),
    ('"con" + "cat"', "concat"),
    # comparison and logic
    ("1 == 1.0", True),
    ("true == 1", False),
    ("1 != 2", True),
    ('"a" < "b"', True),
    ("3 >= 3", True),
    ("2 < 1.5", False),
    ("null == null", True),
    ("[1, [2]] == [1, [2]]", True),
    ('{"a": 1} == {"a": 1.0}', True),
    ("true and false", False),
    ("false or true", True),
    ("not true", False),
    ("not 1 == 2", True),
    ("1 < 2 and 2 < 3", True),
    ("false and undefined_variable", False),  # short-circuit
    ("true or undefined_variable", True),
    ('"HttpError" in e.tags and (e.code == 429 or e.code >= 500)', True),
    ("20 in l", True),
    ("25 in l", False),
    ('"a" in m', True),
    ('"z" in m', False),
    # paths
    ("m.a.b", 2),
    ('m["a"]["b"]', 2),
    ('m["a"].b', 2),
    ("l[1]", 20),
    ("l[x - 1]", 30),
    ('{"k": [5, 6]}.k[1]', 6),
    # functions
    ("len(l)", 3),
    ('len("héllo")', 5),
    ("len(m)", 2),
    ("keys(m)", ["a", "s"]),
    ("default(null, 5)", 5),
    ("default(0, 5)", 0),
    ('default(map.get(m, "missing"), "d")', "d"),
    ('int("42")', 42),
    ("int(3.9)", 3),
    ("int(-3.9)", -3),
    ('double("1.5")', 1.5),
    ("double(2)", 2.0),
    ("string(42)", "42"),
    ("string(1.5)", "1.5"),
    ("string(true)", "true"),
    ("get_type(null)", "null"),
    ("get_type(true)", "boolean"),
    ('get_type("s")', "string"),
    ("get_type(l)", "list"),
    ("get_type(m)", "map"),
    ('map.get(m, "s")', "str"),
    ('map.get(m, ["a", "b"])', 2),
    ('map.get(m, ["a", "zz", "b"])', None),
    ('map.get(null, "k")', None),
    ("list.concat(l, 40)", [10, 20, 30, 40]),
    ('json.decode("{\\"x\\": [1, null]}")', {"x": [1, None]}),
    ('json.encode_to_string({"b": [1, true, null], "s": "é"})', '{"b":[1,true,null],"s":"é"}'),
    ('text.to_upper("abc")', "ABC"),
    ('text.to_lower("ABC")', "abc"),
    ('text.split("a/b/c", "/")', ["a", "b", "c"]),
    ('text.replace_all("a-b-c", "-", "+")', "a+b+c"),
    ('"WORKFLOW_" + text.to_upper(string(e.tags[0]))', "WORKFLOW_HTTPERROR"),
    ('sys.get_env("MY_VAR")', "hello"),
    ('sys.get_env("GOOGLE_CLOUD_PROJECT_ID")', "proj"),
    ('sys.get_env("MISSING")', None),
    ('sys.get_env("MISSING", "fallback")', "fallback"),
    ("sys.now()", 1700000000.5),
]


@pytest.mark.parametrize(("expression", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_expression(expression: str, expected: Any) -> None:
    value = evaluate(expression)
    assert value == expected
    assert type(value) is type(expected)  # 2 is not 2.0, True is not 1


ERRORS = [
    ('"a" + 1', "TypeError"),
    ("1 + null", "TypeError"),
    ("[1] + [2]", "TypeError"),
    ("m.nope", "KeyError"),
    ('m["nope"]', "KeyError"),
    ("undefined_variable", "KeyError"),
    ("l[3]", "IndexError"),
    ("l[-1]", "IndexError"),
    ('l["0"]', "TypeError"),
    ("l.a", "TypeError"),
    ("x.a", "TypeError"),
    ("1 / 0", "ZeroDivisionError"),
    ("1 % 0", "ZeroDivisionError"),
    ('1 < "a"', "TypeError"),
    ("1 and true", "TypeError"),
    ("not 1", "TypeError"),
    ('-"a"', "TypeError"),
    ('"a" in "abc"', "TypeError"),
    ("len(1)", "TypeError"),
    ("keys(l)", "TypeError"),
    ("len(l, l)", "TypeError"),
    ('int("x")', "ValueError"),
    ("string(null)", "TypeError"),
    ('json.decode("{")', "ValueError"),
    ("text.to_upper(1)", "TypeError"),
]


@pytest.mark.parametrize(("expression", "tag"), ERRORS, ids=[e[0] for e in ERRORS])
def test_expression_error(expression: str, tag: str) -> None:
    with pytest.raises(WorkflowError) as info:
        evaluate(expression)
    assert info.value.tags == [tag]
    assert isinstance(info.value.payload["message"], str)


@pytest.mark.parametrize(
    "expression",
    ["1 +", "(1", '"unterminated', "a..b", "{a: 1}", "1 2", "l[1", "[1,", "a = 1", "f()()", "@"],
)
def test_malformed_expressions_fail_at_load(expression: str) -> None:
    with pytest.raises(WorkflowSyntaxError, match=r"step 'done' \(routine 'main'\)"):
        evaluate(expression)


def test_unknown_function_is_unsupported_at_load() -> None:
    with pytest.raises(
        UnsupportedSyntaxError, match=r"function 'time.format\(\)' is not supported"
    ):
        evaluate("time.format(1)")


def test_overlong_expression_is_refused() -> None:
    with pytest.raises(WorkflowSyntaxError, match="400"):
        evaluate(" + ".join(["1"] * 150))
