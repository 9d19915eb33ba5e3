"""The DevTools pipe (render/cdp.py, render/cdppage.py) against the real browser: calls
fail at once when their page or browser dies, and nothing is left behind."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from framerun_service.core.errors import BrowserCrashedError
from framerun_service.render.browser import BrowserSession, PageSpec
from framerun_service.render.cdp import CdpSession, Chrome, TargetClosedError
from framerun_service.render.chrome import CHROME_ARGS
from framerun_service.render.deadline import renderer_pids
from framerun_service.render.settings import engine_settings
from tests.compositions import write_composition


def _chrome() -> Chrome:
    return Chrome(engine_settings().chrome_path, CHROME_ARGS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_closing_the_browser_reaps_it_and_deletes_its_profile() -> None:
    chrome = _chrome()
    assert chrome.browser.send("Browser.getVersion", timeout=30)["product"]
    assert chrome.profile.is_dir()
    chrome.close()
    assert not chrome.profile.exists()
    assert not _alive(chrome.pid)  # reaped, not a zombie: kill(0) fails only then


def test_a_call_on_a_page_whose_renderer_dies_fails_at_once(tmp_path: Path) -> None:
    """A call into a page that never answers is freed the moment its renderer is
    killed (what the deadline does), instead of waiting for an answer forever."""
    session = BrowserSession()
    project = write_composition(tmp_path / "p", "")
    page = session.open(PageSpec(project, "index.html", 160, 120, 30.0, {}))
    outcome: list[BaseException] = []

    def hang() -> None:
        try:
            page.page.evaluate("() => new Promise(() => {})")
        except BaseException as exc:  # the outcome is what the test checks
            outcome.append(exc)

    caller = threading.Thread(target=hang)
    try:
        caller.start()
        time.sleep(0.3)
        assert caller.is_alive(), "the never-settling call returned"
        killed = time.monotonic()
        for pid in renderer_pids():
            os.kill(pid, signal.SIGKILL)
        caller.join(5)
        assert not caller.is_alive(), "the call still waits on a dead renderer"
        assert time.monotonic() - killed < 3
        assert isinstance(outcome[0], TargetClosedError), outcome
    finally:
        page.close()
        session.close()


def test_a_browser_that_dies_fails_its_calls_and_the_next_page_gets_a_new_one(
    tmp_path: Path,
) -> None:
    session = BrowserSession()
    project = write_composition(tmp_path / "p", "")
    spec = PageSpec(project, "index.html", 160, 120, 30.0, {})
    try:
        page = session.open(spec)
        browser = session._ensure(bool(spec.begin_frame))
        os.kill(browser.pid, signal.SIGKILL)
        with pytest.raises(BrowserCrashedError):
            for frame in range(100):  # the pipe closes within moments of the kill
                page.seek(frame)
                time.sleep(0.05)
        page.close()
        again = session.open(spec)  # a fresh browser, not the dead one
        again.seek(1)
        assert again.capture("png").startswith(b"\x89PNG")
        assert session._ensure(bool(spec.begin_frame)) is not browser
        again.close()
    finally:
        session.close()
    assert not browser.profile.exists()


def test_replies_larger_than_the_pipe_arrive_whole_and_in_step() -> None:
    """Replies many pipe-fulls long (a frame's capture is megabytes) come out whole, and
    the small ones around them still match their calls."""
    chrome = _chrome()
    try:
        target = chrome.browser.send("Target.createTarget", {"url": "about:blank"}, timeout=30)
        attached = chrome.browser.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, timeout=30
        )
        page = CdpSession(chrome, attached["sessionId"])
        for size in (3 << 20, 5, 700_001, 1 << 20):
            reply = page.send(
                "Runtime.evaluate",
                {"expression": f"'x'.repeat({size}) + '|' + {size}", "returnByValue": True},
                timeout=30,
            )
            assert reply["result"]["value"] == "x" * size + f"|{size}"
    finally:
        chrome.close()
