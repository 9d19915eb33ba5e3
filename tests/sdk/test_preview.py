"""``framerun preview``: the frame the preview shows is the frame a render captures.

A real browser (chrome-headless-shell through Playwright) opens the preview page the
way a user's browser does, drives it through the page's own controls, and its
screenshots are compared with the frames of a real render of the same composition.
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, Page, sync_playwright

import framerun
from framerun.cli import main
from framerun.preview import start_preview
from framerun_service.render.preview import PreviewServer
from framerun_service.render.settings import DEFAULT_CHROME
from tests.compositions import write_composition
from tests.videos import decode, png_pixels, psnr

FRAMES = 10  # 1 s at 10 fps
VARIABLES = [
    {"id": "title", "type": "string", "label": "Title", "default": "Preview"},
    {"id": "accent", "type": "color", "label": "Accent", "default": "#33ccff"},
]
# Text in a generic family (compiled to a bundled face, served from the fonts origin),
# a GSAP move, a CSS animation and both variables.
BODY = """<div id="t"></div><div class="box" id="b"></div><div id="bar"></div>
<style>
#t { position: absolute; left: 12px; top: 110px; font-family: sans-serif; font-size: 30px;
     color: #fff; }
#bar { position: absolute; left: 12px; top: 180px; height: 14px; width: 10px;
       background: var(--accent); animation: grow 1s linear forwards; }
@keyframes grow { to { width: 290px; } }
</style>
<script>
const { title, accent } = window.__hyperframes.getVariables();
document.getElementById("t").textContent = title;
document.documentElement.style.setProperty("--accent", accent);
gsap.to("#b", { x: 200, duration: 1, ease: "none" });
</script>"""
CHANGED = {"title": "Changed!", "accent": "#ff6600"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("preview") / "comp"
    return write_composition(folder, BODY, fps="10", variables=VARIABLES, gsap=True)


def _rendered(project: Path, out: Path, variables: dict[str, Any] | None = None) -> list[Any]:
    framerun.render(project, out, quality="high", variables=variables or {}, workers=1)
    video = decode(out)
    assert len(video.frames) == FRAMES
    return video.frames


@pytest.fixture(scope="module")
def rendered(project: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    return _rendered(project, tmp_path_factory.mktemp("out") / "default.mp4")


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[PreviewServer]:
    with start_preview(project, port=0) as preview:
        yield preview


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=DEFAULT_CHROME)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser: Browser, server: PreviewServer) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 900, "height": 600}, device_scale_factor=1)
    page.goto(server.url)
    page.evaluate("() => window.framerunPreview.loaded")
    yield page
    page.close()


def _shown(page: Page, frame: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """Frame ``frame`` as the preview shows it: scrubbed there, the iframe's pixels."""
    page.locator("#scrubber").fill(str(frame))  # a range input: fill sets it and fires input
    page.wait_for_function(
        "(n) => window.framerunPreview.frame === n && document.body.dataset.state === 'idle'",
        arg=frame,
    )
    box = page.locator("#frame-box iframe").bounding_box()
    assert box is not None and (box["width"], box["height"]) == size  # native size
    return png_pixels(page.locator("#frame-box iframe").screenshot(type="png"))


def test_preview_shows_the_frames_a_render_captures(page: Page, rendered: list[Any]) -> None:
    shown = {n: _shown(page, n) for n in (0, FRAMES // 2, FRAMES - 1)}
    for n, pixels in shown.items():
        db = psnr(pixels, rendered[n])
        assert db >= 40, f"frame {n}: {db:.1f} dB"  # measured 53.7-56.7 dB
    # The frames differ (the box and the bar move), so matching them means something.
    assert psnr(shown[0], shown[FRAMES - 1]) < 25
    readout = page.locator("#readout").text_content() or ""
    assert readout.startswith(f"frame {FRAMES - 1} / {FRAMES - 1}")


def test_stepping_keys_and_buttons_move_one_frame(page: Page) -> None:
    _shown(page, 3)
    page.locator("#next").click()
    page.wait_for_function("() => window.framerunPreview.frame === 4")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => window.framerunPreview.frame === 2")
    page.locator("#play").click()  # plays at 10 fps to the last frame, then stops
    page.wait_for_function(
        "(n) => window.framerunPreview.frame === n && document.body.dataset.state === 'idle'",
        arg=FRAMES - 1,
        timeout=10_000,
    )


def test_changing_a_variable_rerenders_the_frame(page: Page, project: Path, tmp_path: Path) -> None:
    middle = FRAMES // 2
    before = _shown(page, middle)
    loads = page.evaluate("() => window.framerunPreview.loads")
    page.locator("[name=title]").fill(CHANGED["title"])
    page.locator("[name=accent]").fill(CHANGED["accent"])  # a colour input: fires change
    page.locator("[name=title]").dispatch_event("change")
    page.wait_for_function(
        "(n) => window.framerunPreview.loads >= n + 1 && document.body.dataset.state === 'idle'"
        " && window.framerunPreview.frame === " + str(middle),
        arg=loads,
    )
    after = png_pixels(page.locator("#frame-box iframe").screenshot(type="png"))
    assert psnr(after, before) < 30
    # The same frame of a render given the same values.
    expected = _rendered(project, tmp_path / "changed.mp4", CHANGED)[middle]
    assert psnr(after, expected) >= 40  # measured 53.9 dB


def test_the_page_guard_refuses_outside_urls(browser: Browser, tmp_path: Path) -> None:
    hits: list[str] = []

    class Outside(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    outside = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Outside)
    threading.Thread(target=outside.serve_forever, daemon=True).start()
    port = outside.server_address[1]
    local, tls = (f"http://127.0.0.1:{port}/local.png", f"https://127.0.0.1:{port}/tls.png")
    plain = "http://93.184.215.14/plain.png"  # public, but not https: (never connected to)
    socket_url = "wss://93.184.215.14/live"
    body = "".join(f'<img src="{url}">' for url in (local, tls, plain))
    body += f'<script>new WebSocket("{socket_url}");</script>'

    project = write_composition(tmp_path / "leaky", body)
    try:
        with start_preview(project, port=0) as preview:
            page = browser.new_page()
            page.goto(preview.url)
            page.evaluate("() => window.framerunPreview.loaded")
            page.wait_for_function(
                "(urls) => urls.every((u) => "
                "document.getElementById('problems').textContent.includes(u))",
                arg=[local, tls, plain, socket_url],
            )
            problems = page.locator("#problems").text_content() or ""
            page.close()
            reasons = {r["url"]: r["reason"] for r in preview.refusals()}
    finally:
        outside.shutdown()
        outside.server_close()
    assert hits == []  # nothing reached the outside server
    assert set(reasons) == {local, tls, plain, socket_url}
    assert reasons[local] == reasons[tls] == "a loopback address"
    assert reasons[plain].startswith("plain http:")
    assert reasons[socket_url].startswith("WebSockets are not allowed")
    assert all(url in problems for url in reasons)


def test_cli_refuses_a_missing_project_and_a_taken_port(project: Path, tmp_path: Path) -> None:
    missing = CliRunner().invoke(main, ["preview", str(tmp_path / "nope"), "--no-open"])
    assert missing.exit_code == 2
    assert "[COMPOSITION_NOT_FOUND]" in missing.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["preview", str(project), "--no-open", "--port", str(port)]
        )
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert "[INVALID_CONFIG]" in result.output


def test_cli_serves_until_ctrl_c(project: Path) -> None:
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "framerun.cli", "preview", str(project), "--no-open", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A child that does not stop dumps its threads' stacks on SIGABRT (below).
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        # Started with SIGINT ignored, as it was under the full suite (the preview then sat
        # in select() until SIGKILL): Python installs no Ctrl-C handler in such a process.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if " at " not in line:  # it stopped before serving: say why
            proc.kill()
            rest, err = proc.communicate(timeout=10)
            raise AssertionError(f"no address printed: {line!r}{rest!r}; stderr:\n{err}")
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert b"framerun preview" in reply.read()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            out, err = proc.communicate(timeout=10)
            raise AssertionError(f"Ctrl-C did not stop the preview; its stacks:\n{err}") from None
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        for pipe in (proc.stdout, proc.stderr):  # closed here, not left to the next test's GC
            if pipe is not None:
                pipe.close()
        proc.wait()
    assert proc.returncode == 0, err
    assert "preview stopped" in out


def test_a_request_for_another_host_name_is_refused(server: PreviewServer) -> None:
    """A page whose DNS name was re-pointed at 127.0.0.1 must not read the project."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(server.url)
    for host, status in ((url.netloc, 200), (f"rebound.example:{url.port}", 421)):
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
        conn.request("GET", "/index.html", headers={"Host": host, "Sec-Fetch-Dest": "iframe"})
        assert conn.getresponse().status == status
        conn.close()


def test_a_video_shows_the_picture_a_render_captures(browser: Browser, tmp_path: Path) -> None:
    """<video> pictures come from the engine's decoder (videoframes.py), through the guard."""
    project = Path(__file__).resolve().parents[2] / "examples" / "video"
    if not (project / "clip.webm").exists():
        pytest.fail("examples/video/clip.webm is missing: run scripts/vendor-js.sh (make setup)")
    frame = 40
    # PNGs: this clip's saturated colours cost H.264's 4:2:0 about 35 dB against the
    # capture itself, so the video would measure the encoder, not the preview.
    out = tmp_path / "one"
    framerun.render(project, f"{out}/", quality="high", frames=(frame, frame + 1))
    (png,) = sorted(out.glob("*.png"))
    expected = png_pixels(png.read_bytes())
    with start_preview(project, port=0) as preview:
        page = browser.new_page(viewport={"width": 1100, "height": 700}, device_scale_factor=1)
        page.goto(preview.url)
        page.evaluate("() => window.framerunPreview.loaded")
        shown = _shown(page, frame, size=(640, 360))
        page.close()
        assert preview.refusals() == []
    assert psnr(shown, expected) >= 40, f"{psnr(shown, expected):.1f} dB"  # measured: equal


def test_reloading_the_page_reads_the_edited_composition(browser: Browser, tmp_path: Path) -> None:
    project = write_composition(tmp_path / "edited", "", fps="10", variables=VARIABLES)
    with start_preview(project, port=0) as preview:
        page = browser.new_page()
        page.goto(preview.url)
        page.evaluate("() => window.framerunPreview.loaded")
        assert page.evaluate("() => window.framerunPreview.frames") == FRAMES
        write_composition(project, "", fps="10", duration="2", variables=VARIABLES[:1])
        page.reload()
        page.evaluate("() => window.framerunPreview.loaded")
        assert page.evaluate("() => window.framerunPreview.frames") == 2 * FRAMES
        assert page.locator("[name=accent]").count() == 0  # no longer declared
        (project / "index.html").write_text("<html><body>no root</body></html>")
        page.reload()
        page.wait_for_function("() => document.body.dataset.state === 'failed'")
        assert "[INVALID_COMPOSITION]" in (page.locator("#problems").text_content() or "")
        page.close()
