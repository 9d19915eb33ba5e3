"""Composition variables: typed declarations, supplied values, strict and lenient merging."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framerun_service.core.errors import InvalidCompositionError, VariablesInvalidError
from framerun_service.render.composition import Overrides, load_composition
from framerun_service.render.variables import (
    MAX_VARIABLES_BYTES,
    VariableDeclaration,
    parse_declarations,
    parse_values_json,
    resolve_variables,
)
from tests.compositions import write_composition

DECLS: list[dict[str, Any]] = [
    {"id": "title", "type": "string", "label": "Title", "default": "Hello"},
    {"id": "count", "type": "number", "label": "Count", "default": 3},
    {"id": "accent", "type": "color", "label": "Accent", "default": "#ff0000"},
    {"id": "loop", "type": "boolean", "label": "Loop", "default": False},
    {
        "id": "size",
        "type": "enum",
        "label": "Size",
        "default": "m",
        "options": [{"value": "s", "label": "Small"}, {"value": "m", "label": "Medium"}],
    },
]
DEFAULTS = {"title": "Hello", "count": 3, "accent": "#ff0000", "loop": False, "size": "m"}


def declarations() -> tuple[VariableDeclaration, ...]:
    decls, warnings = parse_declarations(json.dumps(DECLS))
    assert warnings == []
    return decls


# --- types --------------------------------------------------------------------------------


TYPE_CASES: list[tuple[str, Any, bool]] = [
    ("string", "hi", True),
    ("string", "", True),
    ("string", 1, False),
    ("string", None, False),
    ("number", 0, True),
    ("number", -2.5, True),
    ("number", 10**20, True),
    ("number", True, False),  # bool is an int in Python, never a number here
    ("number", "3", False),
    ("number", float("nan"), False),
    ("number", float("inf"), False),
    ("boolean", True, True),
    ("boolean", False, True),
    ("boolean", 1, False),
    ("boolean", "true", False),
    ("color", "#fff", True),
    ("color", "#ffff", True),
    ("color", "#A0B1C2", True),
    ("color", "#a0b1c2cc", True),
    ("color", "rgb(255, 0, 0)", True),
    ("color", "oklch(70% 0.1 200 / 50%)", True),
    ("color", "rebeccapurple", True),
    ("color", "#ff", False),
    ("color", "#fffff", False),
    ("color", "#ggg", False),
    ("color", "rgb(1,2,3); background: url(x)", False),
    ("color", "var(--x)", False),
    ("color", 0xFF0000, False),
    ("enum", "s", True),
    ("enum", "m", True),
    ("enum", "l", False),
    ("enum", "S", False),
    ("enum", 1, False),
]


@pytest.mark.parametrize(("vtype", "value", "ok"), TYPE_CASES)
def test_each_type_accepts_and_rejects(vtype: str, value: Any, ok: bool) -> None:
    """A value reaches the page only if it has the declared type."""
    decl = VariableDeclaration(
        id="v", type=vtype, default=None, options=("s", "m") if vtype == "enum" else ()
    )
    assert decl.accepts(value) is ok


def test_declarations_parse_every_supported_type() -> None:
    """ids, types, labels, defaults and enum options all survive parsing."""
    decls = declarations()
    assert [(d.id, d.type, d.default) for d in decls] == [
        (d["id"], d["type"], d["default"]) for d in DECLS
    ]
    assert decls[0].label == "Title"
    assert decls[4].options == ("s", "m")


def test_enum_options_may_be_plain_strings() -> None:
    """Both {"value": ...} objects and bare strings are accepted as options."""
    raw = json.dumps(
        [{"id": "e", "type": "enum", "default": "b", "options": ["a", {"value": "b"}]}]
    )
    (decl,), _ = parse_declarations(raw)
    assert decl.options == ("a", "b")


def test_enum_without_options_is_invalid() -> None:
    """An enum nobody can satisfy is a composition bug; the message shows the shape."""
    raw = json.dumps([{"id": "e", "type": "enum", "default": None, "options": []}])
    with pytest.raises(InvalidCompositionError, match="needs options"):
        parse_declarations(raw)


def test_unsupported_type_is_dropped_with_a_warning() -> None:
    """Newer HyperFrames types must not break old engines: skip, and say so."""
    raw = json.dumps([*DECLS, {"id": "logo", "type": "gradient", "default": None}])
    decls, warnings = parse_declarations(raw)
    assert [d.id for d in decls] == [d["id"] for d in DECLS]
    assert len(warnings) == 1
    assert "logo" in warnings[0]
    assert "'gradient'" in warnings[0]
    assert "string" in warnings[0]  # lists the supported types


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("[{", "not valid JSON"),
        ('{"id": "x"}', "JSON array"),
        ('[{"type": "string"}]', r"\[0\] needs a non-empty string 'id'"),
        ('[{"id": "", "type": "string"}]', "non-empty string 'id'"),
        ('["title"]', "non-empty string 'id'"),
        ('[{"id": "n", "type": "number", "default": "three"}]', "not a valid number"),
        ('[{"id": "e", "type": "enum", "default": "z", "options": ["a"]}]', "not a valid enum"),
    ],
)
def test_malformed_declarations_are_invalid_composition(raw: str, match: str) -> None:
    """Broken declarations are the HTML's fault, reported with the expected shape."""
    with pytest.raises(InvalidCompositionError, match=match):
        parse_declarations(raw)


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_no_declarations(raw: str | None) -> None:
    """A composition without variables declares nothing and warns about nothing."""
    assert parse_declarations(raw) == ((), [])


# --- resolving supplied values ------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True])
def test_defaults_fill_in_and_valid_values_win(strict: bool) -> None:
    """Supplied values replace defaults; undeclared-free input never warns."""
    values = {"title": "Bye", "count": 7.5, "loop": True, "size": "s"}
    resolved, warnings = resolve_variables(declarations(), values, strict=strict)
    assert resolved == {**DEFAULTS, **values}
    assert warnings == []


def test_strict_rejects_unknown_keys() -> None:
    """A typo in a variable name silently renders the default; strict mode catches it."""
    with pytest.raises(VariablesInvalidError, match="unknown variable 'titel'") as info:
        resolve_variables(declarations(), {"titel": "Bye"}, strict=True)
    assert "title" in info.value.message  # lists the declared ids
    assert "drop strict_variables" in info.value.message
    assert "drop --strict-variables" in info.value.cli_message
    assert "drop strictVariables" in info.value.to_json()["error"]["message"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("count", "three", "number"),
        ("count", True, "number"),
        ("title", 5, "string"),
        ("accent", "not a colour", "color"),
        ("loop", "yes", "boolean"),
        ("size", "xl", "one of ['s', 'm']"),
    ],
)
def test_strict_rejects_mistyped_values(key: str, value: Any, expected: str) -> None:
    """Strict mode fails the render rather than rendering something else."""
    with pytest.raises(VariablesInvalidError) as info:
        resolve_variables(declarations(), {key: value}, strict=True)
    message = info.value.message
    assert f"variable '{key}' must be {expected}" in message
    assert repr(value) in message
    assert "drop strict_variables" in message
    assert "drop --strict-variables" in info.value.cli_message


def test_lenient_keeps_unknown_keys_with_a_warning() -> None:
    """The page may read undeclared ids, so they pass through, but the user is told."""
    resolved, warnings = resolve_variables(declarations(), {"extra": [1, 2]}, strict=False)
    assert resolved == {**DEFAULTS, "extra": [1, 2]}
    assert warnings == ["variable 'extra' is not declared by the composition"]


def test_lenient_falls_back_to_the_default_for_mistyped_values() -> None:
    """A mistyped value must not reach the page; the default does, with a warning each."""
    values = {"count": "three", "size": "xl", "title": "ok"}
    resolved, warnings = resolve_variables(declarations(), values, strict=False)
    assert resolved == {**DEFAULTS, "title": "ok"}
    assert len(warnings) == 2
    assert "variable 'count' must be number" in warnings[0]
    assert "using the default 3" in warnings[0]
    assert "using the default 'm'" in warnings[1]


# --- parsing --variables JSON -------------------------------------------------------------


def test_values_json_parses_an_object() -> None:
    """The common case: an object keyed by variable id."""
    assert parse_values_json('{"title": "Hi", "n": 2}', source="--variables") == {
        "title": "Hi",
        "n": 2,
    }


def test_malformed_values_json_gives_line_and_column() -> None:
    """Long --variables-file content needs a position to find the mistake."""
    text = '{\n  "title": "Hi",\n  "count": ,\n}'
    with pytest.raises(VariablesInvalidError) as info:
        parse_values_json(text, source="--variables-file vars.json")
    message = info.value.message
    assert "--variables-file vars.json" in message
    assert "line 3 column 12" in message
    assert '{"title": "Hi"}' in message  # shows a valid example


@pytest.mark.parametrize(("text", "kind"), [("[1, 2]", "list"), ('"x"', "str"), ("3", "int")])
def test_values_json_must_be_an_object(text: str, kind: str) -> None:
    """Values are keyed by id; anything else is refused and named."""
    with pytest.raises(
        VariablesInvalidError, match=f"JSON object keyed by variable id, not {kind}"
    ):
        parse_values_json(text, source="--variables")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_values_json_refuses_non_json_constants(constant: str) -> None:
    """Python's json takes NaN; the plan would then carry JSON that strict parsers reject."""
    with pytest.raises(VariablesInvalidError, match=f"contain {constant}, which is not valid"):
        parse_values_json(f'{{"extra": [1, {constant}]}}', source="--variables")


def test_values_json_has_a_size_limit() -> None:
    """Variables travel in request bodies; bulk data belongs in the site."""
    text = json.dumps({"blob": "x" * MAX_VARIABLES_BYTES})
    with pytest.raises(VariablesInvalidError, match="KiB"):
        parse_values_json(text, source="--variables")


# --- end to end through load_composition --------------------------------------------------


def test_variables_flow_through_load_composition(tmp_path: Path) -> None:
    """Declarations come from <html>; overrides supply the values."""
    write_composition(tmp_path, "", variables=DECLS)
    comp = load_composition(tmp_path, overrides=Overrides(variables={"title": "From CLI"}))
    assert comp.variables == {**DEFAULTS, "title": "From CLI"}
    assert comp.warnings == ()


def test_strict_mistyped_value_fails_load_composition(tmp_path: Path) -> None:
    """--strict-variables is honoured by load_composition itself."""
    write_composition(tmp_path, "", variables=DECLS)
    overrides = Overrides(variables={"count": "three"}, strict_variables=True)
    with pytest.raises(VariablesInvalidError, match="count"):
        load_composition(tmp_path, overrides=overrides)


def test_lenient_load_composition_collects_warnings(tmp_path: Path) -> None:
    """Lenient mode renders, and every problem ends up in the composition's warnings."""
    write_composition(tmp_path, "", variables=DECLS)
    overrides = Overrides(variables={"count": "three", "extra": 1})
    comp = load_composition(tmp_path, overrides=overrides)
    assert comp.variables == {**DEFAULTS, "extra": 1}
    assert len(comp.warnings) == 2
