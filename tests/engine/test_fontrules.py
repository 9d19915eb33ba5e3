"""HyperFrames' compile-time font rules on document text (IO-free), and the font set.

The pixels these rules produce are checked in test_hf_fidelity.py; here, what the page
receives: which declarations gain "Inter, ", which families get bundled faces, where the
rules go, and that everything else reaches the browser byte for byte.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest

from framerun_service.render.composition import Composition
from framerun_service.render.encoding import encoder_settings
from framerun_service.render.fontrules import TEXT_RENDERING_STYLE, compile_fonts
from framerun_service.render.fontset import (
    FONTSET_DIR,
    GENERIC_FAMILIES,
    font_set,
    fontset_version,
)
from framerun_service.render.plan import make_plan

FACE = re.compile(
    r'font-family: "([^"]+)";\n  src: url\("https://fonts\.framerun\.invalid/([^"]+)"\)'
)


def doc(head: str = "", body: str = "") -> str:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


def faces(html: str) -> list[tuple[str, str]]:
    """(family, file) of every injected @font-face, in order."""
    return FACE.findall(html)


# ---- rule 1: text rendering ----------------------------------------------------------------


def test_the_entry_gets_geometric_precision_first_in_head() -> None:
    out = compile_fonts(doc(head="<meta charset=utf-8><style>p{color:red}</style>"), entry=True)
    assert out.startswith(f"<!doctype html><html><head>{TEXT_RENDERING_STYLE}<meta charset=utf-8>")


def test_a_sub_composition_does_not_get_it() -> None:
    out = compile_fonts("<template><div>x</div></template>", entry=False)
    assert "text-rendering" not in out


# ---- rule 2: generic first families --------------------------------------------------------


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        ("font-family: sans-serif", "font-family: Inter, sans-serif"),
        ("font-family:system-ui,-apple-system", "font-family:Inter, system-ui,-apple-system"),
        ("font-family: 'monospace'", "font-family: Inter, 'monospace'"),
        ("font-family: SANS-SERIF !important", "font-family: Inter, SANS-SERIF !important"),
        ("font-family: /* note */ serif", "font-family: /* note */ Inter, serif"),
        ("--display: ui-sans-serif, Arial", "--display: Inter, ui-sans-serif, Arial"),
        (
            "font-family: var(--nowhere, sans-serif)",
            "font-family: var(--nowhere, Inter, sans-serif)",
        ),
        # Not generic first: left as written.
        ("font-family: Roboto, sans-serif", "font-family: Roboto, sans-serif"),
        ("font-family: var(--nowhere)", "font-family: var(--nowhere)"),
        # The shorthand is not rewritten (HyperFrames reads font-family only).
        ("font: 700 20px sans-serif", "font: 700 20px sans-serif"),
    ],
)
def test_generic_first_families_get_inter_in_front(declaration: str, expected: str) -> None:
    out = compile_fonts(doc(head=f"<style>p {{ {declaration}; }}</style>"), entry=False)
    assert f"p {{ {expected}; }}" in out


def test_a_variable_defined_elsewhere_is_rewritten_where_it_is_set() -> None:
    css = ":root { --font: sans-serif; } p { font-family: var(--font, serif); }"
    out = compile_fonts(doc(head=f"<style>{css}</style>"), entry=False)
    assert ":root { --font: Inter, sans-serif; } p { font-family: var(--font, serif); }" in out


def test_nested_rules_and_media_queries_are_rewritten_but_not_font_face() -> None:
    css = (
        "@media (min-width: 10px) { p { font-family: serif } }"
        '@font-face { font-family: "serif"; src: url(a.woff2) }'
    )
    out = compile_fonts(doc(head=f"<style>{css}</style>"), entry=False)
    assert "@media (min-width: 10px) { p { font-family: Inter, serif } }" in out
    assert '@font-face { font-family: "serif"; src: url(a.woff2) }' in out


def test_attributes_are_rewritten_and_stay_well_quoted() -> None:
    body = (
        "<p style='font-family: sans-serif; content: \"&amp;\"'>a</p>"
        '<p style="font-family: sans-serif">b</p>'
        "<p style=font-family:serif>c</p>"
        '<p data-font-family="monospace">d</p>'
    )
    out = compile_fonts(doc(body=body), entry=False)
    assert "<p style='font-family: Inter, sans-serif; content: \"&amp;\"'>a</p>" in out
    assert '<p style="font-family: Inter, sans-serif">b</p>' in out
    assert '<p style="font-family:Inter, serif">c</p>' in out
    assert '<p data-font-family="Inter, monospace">d</p>' in out


def test_everything_else_is_byte_for_byte_what_the_author_wrote() -> None:
    text = (
        "<!DOCTYPE html>\r\n<html lang=en>\r\n<head>\r\n<style>\r\n  /* keep */\r\n"
        "  p {\r\n    color:red;font-family :  sans-serif ;\r\n  }\r\n</style>\r\n</head>\r\n"
        "<body><script>const s = '<style>p{font-family:serif}</style>';</script></body></html>"
    )
    out = compile_fonts(text, entry=False)
    without_faces = re.sub(
        r"<style data-hyperframes-deterministic-fonts[^>]*>.*?</style>", "", out, flags=re.S
    )
    assert without_faces == text.replace(
        "font-family :  sans-serif", "font-family :  Inter, sans-serif"
    )


# ---- rule 3: bundled faces -----------------------------------------------------------------


def test_alias_families_get_the_bundled_faces_under_their_own_name() -> None:
    css = (
        "h1 { font-family: Arial } h2 { font-family: 'Arial Black', sans-serif } "
        "code { font-family: Menlo }"
    )
    out = compile_fonts(doc(head=f"<style>{css}</style>"), entry=False)
    assert faces(out) == [
        ("Arial", "inter-latin-400-normal.woff2"),
        ("Arial", "inter-latin-700-normal.woff2"),
        ("Arial", "inter-latin-900-normal.woff2"),
        ("Arial Black", "montserrat-latin-400-normal.woff2"),
        ("Arial Black", "montserrat-latin-700-normal.woff2"),
        ("Arial Black", "montserrat-latin-900-normal.woff2"),
        ("Menlo", "jetbrains-mono-latin-400-normal.woff2"),
        ("Menlo", "jetbrains-mono-latin-700-normal.woff2"),
    ]
    assert "font-display: block;" in out
    assert f"unicode-range: {font_set().unicode_range};" in out


def test_a_generic_first_family_brings_inter_faces() -> None:
    out = compile_fonts(doc(head="<style>body { font-family: sans-serif }</style>"), entry=False)
    assert [family for family, _ in faces(out)] == ["Inter"] * 3


def test_families_in_attributes_and_through_variables_count() -> None:
    head = (
        "<style>:root { --brand: 'Helvetica Neue', sans-serif } "
        "h1 { font-family: var(--brand) }</style>"
    )
    out = compile_fonts(doc(head=head, body='<p style="font-family: Futura">x</p>'), entry=False)
    assert {family for family, _ in faces(out)} == {"Helvetica Neue", "Futura"}


def test_declared_unknown_and_generic_families_get_no_faces() -> None:
    head = (
        '<style>@font-face { font-family: "Arial"; src: url(mine.woff2) }'
        "h1 { font-family: Arial } h2 { font-family: NoSuchFace } "
        "h3 { font-family: inherit }</style>"
    )
    assert faces(compile_fonts(doc(head=head), entry=False)) == []


def test_the_faces_go_after_the_last_style_sheet() -> None:
    head = '<style>p{font-family:Arial}</style><link rel="stylesheet" href="x.css"><meta name=a>'
    out = compile_fonts(doc(head=head), entry=False)
    assert re.search(
        r'href="x.css"><style data-hyperframes-deterministic-fonts="true">@font-face', out
    )


def test_in_a_sub_composition_file_they_go_where_the_mount_reads_styles() -> None:
    text = '<template id="s-template"><div style="font-family: Georgia">x</div></template>'
    out = compile_fonts(text, entry=False)
    assert out.startswith('<template id="s-template"><style data-hyperframes-deterministic-fonts')


# ---- the font set --------------------------------------------------------------------------


def test_every_alias_maps_to_a_family_whose_faces_are_installed() -> None:
    fonts = font_set()
    assert set(fonts.aliases.values()) == set(fonts.weights)
    assert not GENERIC_FAMILIES & set(fonts.aliases)
    for name in fonts.files():
        data = (FONTSET_DIR / name).read_bytes()
        assert data[:4] == b"wOF2", name  # woff2 files, copied by `make setup`
    assert re.fullmatch(r"[0-9a-f]{64}", fontset_version())


def test_the_font_set_is_part_of_the_plan_hash(tmp_path: Path) -> None:
    comp = Composition(tmp_path, "index.html", 320, 240, Fraction(30), Fraction(1), {})
    encoder = encoder_settings(fps=Fraction(30))
    plans = [
        make_plan(comp, encoder, site_hash="0" * 64, browser_version="b", font_set=version)
        for version in ("a" * 64, "b" * 64)
    ]
    assert plans[0].to_json()["fontSet"] == "a" * 64
    assert plans[0].plan_hash != plans[1].plan_hash
