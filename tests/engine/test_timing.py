"""One clip-timing rule: the resolver the plan and the audio mix use (timing.py) and its
JavaScript twin in the page (adapters/hyperframes.js) give the same answer for every
element, on documents full of the awkward cases (references, cycles, negative starts,
data-end="0", nested hosts, trims, unreadable values)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from framerun_service.render.browser import BrowserSession, PageSpec
from framerun_service.render.mediatree import DocumentTree as _TreeBuilder
from framerun_service.render.timing import ClipTiming, Reference, js_number, parse_start
from tests.compositions import write_composition

DOCUMENTS = {
    "references": """
<div id="intro" data-start="0.5" data-duration="1"></div>
<div id="after" data-start="intro"></div>
<div id="plus" data-start="intro + 0.25" data-duration="2"></div>
<div id="minus" data-start="intro-0.5"></div>
<div id="intro-0.5" data-start="3"></div>
<div id="way-before" data-start="intro - 9"></div>
<div id="nowhere" data-start="ghost + 1"></div>
<div id="no-length" data-start="2"></div>
<div id="after-no-length" data-start="no-length + 1"></div>
<div id="by-composition" data-start="scene"></div>
<div data-composition-id="scene" data-start="4" data-duration="0.5"></div>
""",
    "cycles and odd values": """
<div id="x" data-start="y" data-duration="1"></div>
<div id="y" data-start="x" data-duration="1"></div>
<div id="self" data-start="self + 1" data-duration="1"></div>
<div id="negative" data-start="-2" data-duration="1"></div>
<div id="hex" data-start="0x2" data-duration="0x3"></div>
<div id="spaces" data-start=" 1.5 " data-duration=" 2 "></div>
<div id="unreadable" data-start="1 s" data-duration="abc"></div>
<div id="huge" data-start="1e999"></div>
<div id="end-zero" data-start="2" data-end="0"></div>
<div id="end-before" data-start="3" data-end="2"></div>
<div id="end-after" data-start="1" data-end="4"></div>
<div id="zero-length" data-start="1" data-duration="0"></div>
""",
    "nested hosts": """
<div id="host" data-composition-id="host" data-start="2" data-duration="3">
  <div id="inner-root" data-composition-id="inner">
    <div id="in-inner" data-start="0.5" data-duration="1"></div>
  </div>
  <div id="in-host" data-start="1" data-duration="5"></div>
  <div id="untimed"></div>
  <audio id="voice" data-start="0.5"></audio>
  <audio id="voice-global" data-start="2.5" data-hf-media-start-basis="global"></audio>
  <audio id="voice-untimed"></audio>
  <div id="deeper" data-composition-id="deeper" data-start="1" data-duration="1">
    <div id="in-deeper" data-start="0.25" data-duration="4"></div>
    <audio id="deep-voice"></audio>
  </div>
  <div id="ref-out" data-start="intro2"></div>
</div>
<div id="intro2" data-start="1" data-duration="0.5"></div>
<div id="trimmed" data-composition-id="trimmed" data-start="6" data-media-start="1.5"
     data-duration="2">
  <div id="in-trimmed" data-start="2" data-duration="1"></div>
</div>
<div id="later-host" data-composition-id="later-host" data-start="intro2 + 1">
  <div id="in-later" data-start="0.5"></div>
</div>
""",
}


def python_answers(body: str) -> dict[str, tuple[float, float | None]]:
    builder = _TreeBuilder()
    builder.feed(f"<html><body data-composition-id='root'>{body}</body></html>")
    builder.close()
    answers = {}
    for key, el in builder.ids.items():
        timing = ClipTiming(builder.find)  # a fresh one per element, as clipWindow() has
        start = timing.media_start(el) if el.tag in ("audio", "video") else timing.start(el)
        answers[key] = (start, timing.duration(el))
    return answers


PAGE_ANSWERS = """() => {
  const hf = window.__framerunHyperframes, out = {};
  for (const el of document.querySelectorAll("body [id]")) {
    if (el.tagName === "AUDIO" || el.tagName === "VIDEO") {
      const w = hf.mediaWindow(el), c = hf.clipWindow(el);
      out[el.id] = [w.start, c.end === null ? null : c.end - c.start];
    } else {
      const c = hf.clipWindow(el);
      out[el.id] = [c.start, c.end === null ? null : c.end - c.start];
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    session = BrowserSession()
    yield session
    session.close()


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_the_page_and_the_plan_resolve_every_clip_alike(
    tmp_path: Path, session: BrowserSession, name: str
) -> None:
    body = DOCUMENTS[name]
    project = write_composition(tmp_path, body, duration="10")
    page = session.open(PageSpec(project, "index.html", 320, 240, 30.0, {}))
    try:
        in_page = page.evaluate(PAGE_ANSWERS)
    finally:
        page.close()
    in_plan = python_answers(body)
    assert set(in_page) == set(in_plan)
    for key, (start, length) in in_plan.items():
        page_start, page_length = in_page[key]
        assert math.isclose(page_start, start, abs_tol=1e-9), (key, page_start, start)
        if length is None:
            assert page_length is None, (key, page_length)
        else:
            assert page_length is not None and math.isclose(page_length, length), key


def test_hyperframes_rules_on_the_awkward_cases() -> None:
    """The answers themselves, so the two cannot agree on something wrong."""
    refs = python_answers(DOCUMENTS["references"])
    assert refs["after"] == (1.5, None)  # the end of #intro
    assert refs["plus"] == (1.75, 2.0)
    assert refs["minus"] == (3.0, None)  # "intro-0.5" is an id here: the element with it
    assert refs["way-before"] == (0.0, None)  # never before 0
    assert refs["nowhere"] == (0.0, None)  # names nothing: 0
    assert refs["after-no-length"] == (3.0, None)  # a clip without length ends where it starts
    assert refs["by-composition"] == (4.5, None)  # a data-composition-id is a name too
    odd = python_answers(DOCUMENTS["cycles and odd values"])
    # In a cycle the reference that closes it counts 0: x -> y -> (x: 0) + 1 = 1, x = 2.
    assert odd["x"] == (2.0, 1.0) and odd["y"] == (2.0, 1.0)
    assert odd["negative"] == (0.0, 1.0)
    assert odd["hex"] == (2.0, 3.0)  # JavaScript's Number()
    assert odd["spaces"] == (1.5, 2.0)
    assert odd["unreadable"] == (0.0, None)
    assert odd["end-zero"] == (2.0, None)  # data-end="0" is no end
    assert odd["end-before"] == (3.0, None)
    assert odd["end-after"] == (1.0, 3.0)
    assert odd["zero-length"] == (1.0, None)
    nested = python_answers(DOCUMENTS["nested hosts"])
    assert nested["inner-root"] == (2.0, None)  # a composition root starts with its host
    assert nested["in-inner"] == (2.5, 1.0)
    assert nested["in-host"] == (3.0, 5.0)
    assert nested["voice"] == (2.5, None)  # host + its data-start
    assert nested["voice-global"] == (2.5, None)  # root time
    assert nested["voice-untimed"] == (2.0, None)  # media without data-start: with its host
    assert nested["in-deeper"] == (3.25, 4.0)
    assert nested["deep-voice"] == (3.0, None)
    assert nested["ref-out"] == (1.5, None)  # references are root time
    assert nested["in-trimmed"] == (6.5, 1.0)  # the host's trim moves its clips earlier
    assert nested["in-later"] == (3.0, None)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("2", 2.0),
        (" -1.5 ", -1.5),
        ("0x10", 16.0),
        ("1e3", 1000.0),
        ("intro", Reference("intro", 0.0)),
        ("intro + 2", Reference("intro", 2.0)),
        ("intro -0.5", Reference("intro", -0.5)),
        ("a.b:c_d-e", Reference("a.b:c_d-e", 0.0)),
        ("1e999", Reference("1e999", 0.0)),
        ("", None),
        ("1 s", None),
        ("intro * 2", None),
        ("+ 2", None),
    ],
)
def test_start_expressions(raw: str, parsed: float | Reference | None) -> None:
    assert parse_start(raw) == parsed


def test_numbers_read_as_javascript_reads_them() -> None:
    assert [js_number(v) for v in ("1.", ".5", "+3", "0b11", "0o7", "Infinity", "1_0", None)] == [
        1.0,
        0.5,
        3.0,
        3.0,
        7.0,
        None,
        None,
        None,
    ]
