"""Fonts fail closed: every font a composition declares loads before the first frame,
or the render stops with FONT_FETCH_FAILED naming the family and URL. A fallback font
would silently change every frame."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from framerun_service.core.errors import FontFetchFailedError, FramerunError
from framerun_service.render.browser import BrowserSession, PageSpec
from framerun_service.render.netguard import FetchRequest, FetchResponse, RefusedError
from framerun_service.render.probe import probe_composition
from tests.compositions import write_composition

# fonts-liberation is one of framerun's system packages (scripts/install-system-deps.sh).
FONT = Path("/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf")
PUBLIC_IP = "93.184.216.34"
TEXT = (
    "<p style='position:absolute;left:8px;top:8px;margin:0;font-size:40px;color:#fff;{}'>"
    "Hamburgefonts</p>"
)


class FakeNet:
    """DNS answers and HTTPS responses by URL; a missing URL is unreachable."""

    def __init__(self) -> None:
        self.dns: dict[str, list[str]] = {}
        self.responses: dict[str, FetchResponse] = {}

    def resolve(self, host: str, port: int) -> Sequence[str]:
        return self.dns.get(host, [])

    def fetch(self, request: FetchRequest) -> FetchResponse:
        if request.url not in self.responses:
            raise RefusedError(request.url, "could not be fetched (connection timed out)")
        return self.responses[request.url]


@pytest.fixture(scope="module")
def net() -> FakeNet:
    return FakeNet()


@pytest.fixture(scope="module")
def session(net: FakeNet) -> Iterator[BrowserSession]:
    session = BrowserSession(resolver=net.resolve, fetcher=net.fetch)
    yield session
    session.close()


@pytest.fixture(autouse=True)
def _fresh(net: FakeNet) -> None:
    net.__init__()  # type: ignore[misc]


def _spec(project: Path) -> PageSpec:
    return PageSpec(project, "index.html", 320, 240, 30.0, {})


def _font_face(family: str, src: str) -> str:
    return f"<style>@font-face {{ font-family: '{family}'; src: {src}; }}</style>"


def _error(session: BrowserSession, project: Path) -> FramerunError:
    try:
        probe_composition(session, _spec(project))
    except FramerunError as exc:
        return exc
    pytest.fail("the composition rendered without an error")


def _pixels(session: BrowserSession, project: Path) -> np.ndarray:
    page = session.open(_spec(project))
    try:
        page.seek(0)
        png = page.capture("png")
    finally:
        page.close()
    (frame,) = av.CodecContext.create("png", "r").decode(av.Packet(png))
    return frame.to_ndarray(format="rgb24")


def test_a_site_font_renders_instead_of_the_fallback(
    tmp_path: Path, session: BrowserSession
) -> None:
    if not FONT.is_file():
        pytest.skip(f"{FONT} is missing: run scripts/install-system-deps.sh")
    with_font = write_composition(
        tmp_path / "font",
        _font_face("Brand Mono", "url('fonts/brand.ttf') format('truetype')")
        + TEXT.format("font-family:'Brand Mono', sans-serif"),
    )
    (with_font / "fonts").mkdir()
    shutil.copy(FONT, with_font / "fonts" / "brand.ttf")
    fallback = write_composition(tmp_path / "fallback", TEXT.format("font-family:sans-serif"))
    report = probe_composition(session, _spec(with_font))
    assert report.fonts == ("Brand Mono",)
    a, b = _pixels(session, with_font), _pixels(session, fallback)
    assert a.max() > 200, "no text was drawn"
    assert np.abs(a.astype(int) - b.astype(int)).sum(axis=2).astype(bool).sum() > 500


def test_a_missing_site_font_names_the_family_and_path(
    tmp_path: Path, session: BrowserSession
) -> None:
    project = write_composition(
        tmp_path / "p",
        _font_face("Brand Sans", "url('fonts/missing.woff2') format('woff2')")
        + TEXT.format("font-family:'Brand Sans'"),
    )
    error = _error(session, project)
    assert isinstance(error, FontFetchFailedError)
    assert error.code == "FONT_FETCH_FAILED"
    assert '"Brand Sans" from fonts/missing.woff2 (not in the composition folder)' in error.message


@pytest.mark.parametrize(
    ("url", "dns", "reason"),
    [
        ("https://fonts.example.com/brand.woff2", [PUBLIC_IP], "connection timed out"),
        ("https://fonts.example.com/brand.woff2", ["10.0.0.5"], "a private address"),
        ("http://fonts.example.com/brand.woff2", [PUBLIC_IP], "plain http"),
        ("https://127.0.0.1:9/brand.woff2", [], "loopback"),
    ],
)
def test_an_unreachable_or_blocked_font_url_names_the_family_and_url(
    tmp_path: Path, session: BrowserSession, net: FakeNet, url: str, dns: list[str], reason: str
) -> None:
    net.dns["fonts.example.com"] = dns
    project = write_composition(
        tmp_path / "p",
        _font_face("Remote Brand", f"url('{url}')") + TEXT.format("font-family:'Remote Brand'"),
    )
    error = _error(session, project)
    assert isinstance(error, FontFetchFailedError), error
    assert '"Remote Brand"' in error.message
    # Chrome upgrades http: fonts (passive mixed content) to https: before we see them.
    assert url.split("://", 1)[1] in error.message
    assert reason in error.message


def test_a_declared_but_unused_face_must_load_too(tmp_path: Path, session: BrowserSession) -> None:
    project = write_composition(
        tmp_path / "p",
        _font_face("Later", "url('fonts/later.woff2')") + TEXT.format("font-family:sans-serif"),
    )
    error = _error(session, project)
    assert isinstance(error, FontFetchFailedError)
    assert '"Later" from fonts/later.woff2 (not in the composition folder)' in error.message


def test_an_undecodable_font_fails(tmp_path: Path, session: BrowserSession) -> None:
    project = write_composition(
        tmp_path / "p",
        _font_face("Broken", "url('fonts/broken.ttf')") + TEXT.format("font-family:Broken"),
    )
    (project / "fonts").mkdir()
    (project / "fonts" / "broken.ttf").write_bytes(b"this is not a font" * 100)
    error = _error(session, project)
    assert isinstance(error, FontFetchFailedError)
    assert '"Broken" from fonts/broken.ttf (fetched but not a font the browser can decode)' in (
        error.message
    )


def test_a_fontsource_stylesheet_with_a_missing_file_fails(
    tmp_path: Path, session: BrowserSession
) -> None:
    """@fontsource/* CSS: @font-face rules per subset, files relative to the CSS."""
    css = "".join(
        f"@font-face {{ font-family: 'Inter'; font-style: normal; font-weight: 400; "
        f"src: url(./files/inter-{subset}-400-normal.woff2) format('woff2'); "
        f"unicode-range: {rng}; }}\n"
        for subset, rng in [("latin", "U+0000-00FF"), ("cyrillic", "U+0400-045F")]
    )
    project = write_composition(
        tmp_path / "p",
        TEXT.format("font-family:Inter"),
        head="<link rel='stylesheet' href='vendor/fontsource/inter/400.css'>",
    )
    folder = project / "vendor" / "fontsource" / "inter"
    (folder / "files").mkdir(parents=True)
    (folder / "400.css").write_text(css)
    shutil.copy(FONT, folder / "files" / "inter-latin-400-normal.woff2")  # cyrillic is missing
    error = _error(session, project)
    assert isinstance(error, FontFetchFailedError)
    assert '"Inter" from' in error.message
    assert "vendor/fontsource/inter/files/inter-cyrillic-400-normal.woff2 (not in the" in (
        error.message
    )


def test_a_cross_origin_font_stylesheet_with_a_blocked_font_fails(
    tmp_path: Path, session: BrowserSession, net: FakeNet
) -> None:
    """The page cannot read a cross-origin sheet's rules; the guard still names the URL."""
    net.dns["fonts.example.com"] = [PUBLIC_IP]
    net.responses["https://fonts.example.com/css?family=Remote"] = FetchResponse(
        200,
        (("content-type", "text/css"),),
        b"@font-face { font-family: 'Remote'; src: url(https://169.254.169.254/f.woff2); }",
    )
    project = write_composition(
        tmp_path / "p",
        TEXT.format("font-family:Remote"),
        head="<link rel='stylesheet' href='https://fonts.example.com/css?family=Remote'>",
    )
    error = _error(session, project)
    assert isinstance(error, FontFetchFailedError), error
    assert '"Remote" from https://169.254.169.254/f.woff2 (the cloud metadata server' in (
        error.message
    )


def test_a_font_added_by_a_frame_script_fails_that_frame(
    tmp_path: Path, session: BrowserSession
) -> None:
    project = write_composition(
        tmp_path / "p",
        "<script>setTimeout(() => { const f = new FontFace('Late', \"url('fonts/late.ttf')\");"
        "document.fonts.add(f); window.__framerun.delay(f.load().catch(() => {})); }, 500);"
        "</script>",
    )
    page = session.open(_spec(project))
    try:
        page.seek(0)
        with pytest.raises(FontFetchFailedError, match=r'"Late" from fonts/late\.ttf'):
            page.seek(20)
    finally:
        page.close()


def test_a_font_still_loading_at_the_load_timeout_fails(
    tmp_path: Path, session: BrowserSession, net: FakeNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never wait forever, never render with the fallback meanwhile."""
    url = "https://fonts.example.com/slow.ttf"
    net.dns["fonts.example.com"] = [PUBLIC_IP]
    net.responses[url] = FetchResponse(200, (("content-type", "font/ttf"),), FONT.read_bytes())

    def slow_fetch(request: FetchRequest) -> FetchResponse:
        time.sleep(2.5)
        return FakeNet.fetch(net, request)

    monkeypatch.setattr(session, "fetcher", slow_fetch)
    monkeypatch.setattr(session, "settings", replace(session.settings, load_timeout_s=1.0))
    project = write_composition(tmp_path / "p", _font_face("Slow", f"url('{url}')"))
    error = _error(session, project)
    assert isinstance(error, FontFetchFailedError), error
    assert f'"Slow" from {url} (still loading at FRAMERUN_LOAD_TIMEOUT_S)' in error.message
