"""Each call into a page is watched by a deadline of its own.

A chunk drawn by several pages has a call in flight on each page's thread at once:
one page's calls arming and disarming must never leave another page's call unwatched.
"""

from __future__ import annotations

import threading
import time

from framerun_service.core.errors import BrowserCrashedError, CompositionTimeoutError
from framerun_service.render.chunk import ChunkCancelledError, first_cause
from framerun_service.render.deadline import _Watchdog


def test_a_stuck_call_is_caught_while_another_thread_arms_and_disarms() -> None:
    fired: list[float] = []
    watchdog = _Watchdog(lambda: fired.append(time.monotonic()))
    _, stuck = watchdog.arm(0.5)  # never disarmed: the page is stuck
    armed_at = time.monotonic()
    busy_until = armed_at + 1.5

    def busy_page() -> None:  # quick calls, each armed and disarmed in turn
        while time.monotonic() < busy_until:
            token, expired = watchdog.arm(5.0)
            time.sleep(0.01)
            watchdog.disarm(token)
            assert not expired.is_set()

    other = threading.Thread(target=busy_page)
    other.start()
    assert stuck.wait(1.2), "the stuck call's deadline never fired"
    other.join()
    assert len(fired) == 1  # the quick calls were disarmed in time: nothing else fired
    assert fired[0] - armed_at >= 0.5


def test_a_disarmed_call_does_not_fire_and_the_earliest_due_fires_first() -> None:
    fired: list[str] = []
    watchdog = _Watchdog(lambda: fired.append("kill"))
    late_token, late = watchdog.arm(0.6)
    early_token, early = watchdog.arm(0.2)
    gone_token, gone = watchdog.arm(0.1)
    watchdog.disarm(gone_token)
    assert early.wait(1.0) and not late.is_set()
    assert late.wait(1.0)
    assert not gone.is_set() and fired == ["kill", "kill"]
    watchdog.disarm(early_token)  # disarming a fired call is harmless
    watchdog.disarm(late_token)


def test_the_chunk_reports_the_overrun_not_the_crashes_it_caused() -> None:
    crash = BrowserCrashedError("the browser crashed")
    timeout = CompositionTimeoutError("did not answer")
    assert first_cause([crash, timeout]) is timeout
    assert first_cause([crash]) is crash
    cancelled = ChunkCancelledError("chunk 1 was cancelled")  # stopped because of another
    assert first_cause([cancelled, crash, timeout]) is timeout
    assert first_cause([cancelled, crash]) is crash
