"""load_composition: finding the root, applying overrides, refusing bad values with a fix."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import pytest

from framerun_service.core.errors import (
    CompositionNotFoundError,
    InvalidCompositionError,
    InvalidConfigError,
    InvalidInputError,
)
from framerun_service.render.composition import Overrides, load_composition
from tests.compositions import write_composition

ALL_ATTRS = {"width": "320", "height": "240", "fps": "30", "duration": "1"}


def attrs(**changes: str | None) -> str:
    """Root attributes with some changed (a value) or left out (None)."""
    merged: dict[str, str | None] = {**ALL_ATTRS, **changes}
    return " ".join(f'data-{k}="{v}"' for k, v in merged.items() if v is not None)


# --- finding the root ---------------------------------------------------------------------


def test_root_on_body(tmp_path: Path) -> None:
    """The usual layout: <body> carries the attributes."""
    comp = load_composition(write_composition(tmp_path, "", width=320, height=240, fps="24"))
    assert (comp.width, comp.height, comp.fps, comp.duration) == (320, 240, Fraction(24), 1)
    assert comp.total_frames == 24
    assert comp.entry == "index.html"
    assert comp.entry_path == tmp_path.resolve() / "index.html"
    assert comp.variables == {}
    assert comp.warnings == ()


def test_root_is_the_first_element_in_body_when_body_has_no_size(tmp_path: Path) -> None:
    """HyperFrames puts the root on a <div>; a bare data-composition-id on <body> must not win."""
    body = (
        '<div data-composition-id="main" data-width="640" data-height="360" '
        'data-fps="25" data-duration="2"><div data-width="100" data-fps="1"></div></div>'
        '<div data-width="1000"></div>'
    )
    comp = load_composition(write_composition(tmp_path, body, root_attrs=""))
    assert (comp.width, comp.height, comp.fps, comp.duration) == (640, 360, 25, 2)
    assert comp.total_frames == 50


def test_body_attributes_beat_elements_inside_it(tmp_path: Path) -> None:
    """When <body> carries the attributes, it is the root, whatever its children say."""
    body = '<div data-width="640" data-height="360" data-fps="25" data-duration="2"></div>'
    comp = load_composition(write_composition(tmp_path, body))
    assert (comp.width, comp.height, comp.fps) == (320, 240, 30)


def test_elements_outside_body_are_not_the_root(tmp_path: Path) -> None:
    """An attribute in <head> (say on a <meta>) is not a composition root."""
    write_composition(tmp_path, "", head='<meta data-width="640">', root_attrs=attrs())
    assert load_composition(tmp_path).width == 320


def test_overrides_beat_root_attributes(tmp_path: Path) -> None:
    """CLI flags (and API fields) win over the HTML, even over a broken attribute."""
    write_composition(tmp_path, "", root_attrs=attrs(width="abc", fps=None))
    comp = load_composition(
        tmp_path, overrides=Overrides(width=640, height="360", fps="60", duration="1.5")
    )
    assert (comp.width, comp.height, comp.fps, comp.duration) == (
        640,
        360,
        60,
        Fraction(3, 2),
    )
    assert comp.total_frames == 90


def test_ntsc_fps_is_exact(tmp_path: Path) -> None:
    """30000/1001 must stay rational: a float would drift by a frame over long videos."""
    write_composition(tmp_path, "", fps="30000/1001", duration="10")
    comp = load_composition(tmp_path)
    assert comp.fps == Fraction(30000, 1001)
    assert isinstance(comp.fps, Fraction)
    assert comp.total_frames == round(Fraction(10) * Fraction(30000, 1001)) == 300


@pytest.mark.parametrize(
    ("fps", "duration", "frames"),
    [
        ("30", "1", 30),
        ("29.97", "1", 30),
        ("30000/1001", "60", 1799),  # 1798.2 frames: the part frame is shown
        ("30", "19.05", 572),  # 571.5
        ("30", "1.00001", 30),  # 30.0003: within 1/1000 of a frame, no extra frame
        ("24", "0.01", 1),
    ],
)
def test_total_frames_is_duration_times_fps_rounded_up_as_hyperframes_counts(
    tmp_path: Path, fps: str, duration: str, frames: int
) -> None:
    """The frame count is duration × fps rounded up (HyperFrames' durationToFrameCount:
    a product within 1/1000 of a whole number is that number), and never zero."""
    write_composition(tmp_path, "", fps=fps, duration=duration)
    assert load_composition(tmp_path).total_frames == frames


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("width", "321", "odd.*try 322"),
        ("height", "241", "odd.*try 242"),
        ("width", "0", "out of range"),
        ("width", "1", "out of range"),
        ("width", "7682", "out of range"),
        ("width", "-320", "out of range"),
        ("width", "abc", "must be an integer"),
        ("width", "320.5", "must be an integer"),
        ("width", "1_920", "must be an integer"),
        ("width", "", "must be an integer"),
        ("fps", "0", "out of range"),
        ("fps", "-30", "out of range"),
        ("fps", "241", "out of range"),
        ("fps", "garbage", "rational like 30000/1001"),
        ("fps", "30/0", "rational like 30000/1001"),
        ("fps", "nan", "rational like 30000/1001"),
        ("duration", "0", "out of range"),
        ("duration", "-1", "out of range"),
        ("duration", "soon", "number of seconds"),
    ],
)
def test_bad_override_is_invalid_config(tmp_path: Path, field: str, value: str, match: str) -> None:
    """A bad flag is bad config, and the message names the field and the valid range."""
    write_composition(tmp_path, "")
    with pytest.raises(InvalidConfigError, match=match) as info:
        load_composition(tmp_path, overrides=Overrides(**{field: value}))
    assert field in info.value.message


@pytest.mark.parametrize(
    ("field", "value"),
    [("width", "abc"), ("width", "321"), ("height", "7682"), ("fps", "0"), ("duration", "-1")],
)
def test_bad_root_attribute_is_invalid_composition(tmp_path: Path, field: str, value: str) -> None:
    """A bad attribute is the HTML's fault: the message points at the file and the attribute."""
    write_composition(tmp_path, "", root_attrs=attrs(**{field: value}))
    with pytest.raises(InvalidCompositionError) as info:
        load_composition(tmp_path)
    message = info.value.message
    assert f'data-{field}="{value}"' in message
    assert "index.html" in message
    assert f"pass {field}" in message and f"pass --{field}" in info.value.cli_message


@pytest.mark.parametrize(
    ("field", "value"),
    [("width", "2"), ("width", "7680"), ("height", " 240 "), ("fps", "240"), ("fps", "0.5")],
)
def test_boundary_values_are_accepted(tmp_path: Path, field: str, value: str) -> None:
    """The limits themselves are valid."""
    write_composition(tmp_path, "")
    load_composition(tmp_path, overrides=Overrides(**{field: value}))


@pytest.mark.parametrize("missing", ["width", "height", "duration"])
def test_missing_attribute_names_it_and_suggests_the_flag(tmp_path: Path, missing: str) -> None:
    """The user must learn both fixes: add the attribute, or pass the flag.

    data-fps is optional (30, as in HyperFrames); see test_hyperframes_compat.py.
    """
    write_composition(tmp_path, "", root_attrs=attrs(**{missing: None}))
    with pytest.raises(InvalidCompositionError, match=f"lacks data-{missing}") as info:
        load_composition(tmp_path)
    assert f"pass {missing}" in info.value.message
    assert f"pass --{missing}" in info.value.cli_message
    assert "root element" in info.value.message


def test_missing_attribute_can_come_from_the_flag(tmp_path: Path) -> None:
    """A composition without data-fps renders when --fps supplies it."""
    write_composition(tmp_path, "", root_attrs=attrs(fps=None))
    assert load_composition(tmp_path, overrides=Overrides(fps="12")).fps == 12


def test_empty_attribute_counts_as_missing(tmp_path: Path) -> None:
    """data-width="" is as good as absent."""
    write_composition(tmp_path, "", root_attrs=attrs(width=""))
    with pytest.raises(InvalidCompositionError, match="lacks data-width"):
        load_composition(tmp_path)


def test_no_root_anywhere_says_where_the_attributes_go(tmp_path: Path) -> None:
    """Without any root element the message must not claim one exists, and names the places
    a root may be."""
    (tmp_path / "index.html").write_text("<html><body><p>hi</p></body></html>")
    with pytest.raises(InvalidCompositionError, match="no element declares data-width") as info:
        load_composition(tmp_path)
    assert "<html>, <body> or the element with data-composition-id" in info.value.message
    assert "--width" in info.value.cli_message


def test_root_on_html(tmp_path: Path) -> None:
    """HyperFrames' runtime takes the document's first [data-composition-id], which is <html>
    when that carries one: its size, fps and duration are the composition's."""
    (tmp_path / "index.html").write_text(
        '<!doctype html><html data-composition-id="main" data-width="320" data-height="180" '
        'data-fps="24" data-duration="2"><head></head><body><div data-width="64"></div>'
        "</body></html>"
    )
    comp = load_composition(tmp_path)
    assert (comp.width, comp.height, comp.fps, comp.duration) == (320, 180, Fraction(24), 2)


def test_root_on_html_takes_its_duration_from_the_clips_in_body(tmp_path: Path) -> None:
    """The clips under an <html> root are the ones in <body>, as under a <body> root."""
    (tmp_path / "index.html").write_text(
        '<html data-composition-id="main" data-width="320" data-height="180"><body>'
        '<div id="a" data-start="0" data-duration="1.5"></div>'
        '<div data-start="a + 0.5" data-duration="1"></div></body></html>'
    )
    assert load_composition(tmp_path).duration == 3


def test_a_bare_id_on_html_does_not_hide_the_root_in_body(tmp_path: Path) -> None:
    """As for <body>: <html> is the root only when it carries a size attribute itself."""
    (tmp_path / "index.html").write_text(
        '<html data-composition-id="page"><body><div data-composition-id="c" '
        f"{attrs()}></div></body></html>"
    )
    assert load_composition(tmp_path).width == 320


def test_missing_project_is_composition_not_found(tmp_path: Path) -> None:
    """Also a FileNotFoundError, so callers can catch it idiomatically."""
    missing = tmp_path / "nope"
    with pytest.raises(CompositionNotFoundError, match=r"nope.*does not exist") as info:
        load_composition(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, InvalidInputError)
    assert info.value.code == "COMPOSITION_NOT_FOUND"
    with pytest.raises(FileNotFoundError):
        load_composition(missing)


def test_project_that_is_a_file_is_not_found(tmp_path: Path) -> None:
    """Passing the HTML file instead of its folder is a common slip."""
    html = write_composition(tmp_path, "") / "index.html"
    with pytest.raises(CompositionNotFoundError):
        load_composition(html)


@pytest.mark.parametrize("entry", ["missing.html", "sub/index.html", "sub"])
def test_missing_entry_is_composition_not_found(tmp_path: Path, entry: str) -> None:
    """The message names the entry and the flag that picks another one."""
    write_composition(tmp_path, "")
    (tmp_path / "sub").mkdir()
    with pytest.raises(CompositionNotFoundError, match="pass composition=FILE") as info:
        load_composition(tmp_path, entry=entry)
    assert entry in info.value.message
    assert "pass --composition=FILE" in info.value.cli_message


def test_other_entry_file_is_used(tmp_path: Path) -> None:
    """--composition picks a different HTML file in the same project."""
    write_composition(tmp_path / "other", "", width=640)
    (tmp_path / "other" / "index.html").rename(tmp_path / "alt.html")
    comp = load_composition(tmp_path, entry="alt.html")
    assert comp.width == 640
    assert comp.entry == "alt.html"


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_entry_escaping_the_project_is_refused(tmp_path: Path, how: str) -> None:
    """The entry must live in the project: only the project is uploaded and served."""
    project = write_composition(tmp_path / "project", "")
    outside = write_composition(tmp_path / "outside", "") / "index.html"
    entry = {"dotdot": "../outside/index.html", "absolute": str(outside), "symlink": "link.html"}
    os.symlink(outside, project / "link.html")
    with pytest.raises(InvalidCompositionError, match="outside the project"):
        load_composition(project, entry=entry[how])


def test_entry_that_is_not_utf8_is_invalid(tmp_path: Path) -> None:
    """A binary entry file gets a typed error, not a UnicodeDecodeError."""
    tmp_path.joinpath("index.html").write_bytes(b"<html>\xff\xfe</html>")
    with pytest.raises(InvalidCompositionError, match="UTF-8"):
        load_composition(tmp_path)


def test_unsupported_variable_type_warns_through_load(tmp_path: Path) -> None:
    """Warnings from the declarations reach the composition so the CLI can show them."""
    write_composition(
        tmp_path,
        "",
        variables=[
            {"id": "title", "type": "string", "label": "Title", "default": "Hi"},
            {"id": "logo", "type": "gradient", "label": "Logo", "default": None},
        ],
    )
    comp = load_composition(tmp_path)
    assert comp.variables == {"title": "Hi"}
    assert [d.id for d in comp.declarations] == ["title"]
    assert len(comp.warnings) == 1
    assert "logo" in comp.warnings[0]
