"""One page in a browser context of its own, set up over CDP as a render needs it.

The page gets what Playwright gave a new page in a context (the same emulation calls,
so pixels, fonts and locale do not change): viewport, locale en-US, time zone UTC,
light colour scheme, the default font families, focus emulation, no cache, service
workers unable to register. Every request it makes, also from its workers and
out-of-process frames, is paused (``Fetch``) and answered by the caller's handler
(the page guard, pageguard.py), on a thread of its own so a slow answer never holds
up the DevTools reader. What interception cannot see (WebSockets, requests Chrome
itself refuses) is reported to the caller's listeners.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any, Protocol

from framerun_service.render.cdp import (
    CdpError,
    CdpSession,
    CdpTimeoutError,
    Chrome,
    CommandFailedError,
    TargetClosedError,
)
from framerun_service.render.webrequest import GuardAnswer, GuardRequest

__all__ = ["EvaluateError", "PageListener", "PageTarget"]

# What Playwright's new pages get (crPage.ts), kept so pixels stay as they were.
_FONT_FAMILIES = {
    "standard": "Times New Roman",
    "fixed": "Monospace",
    "serif": "Times New Roman",
    "sansSerif": "Arial",
    "cursive": "Comic Sans MS",
    "fantasy": "Impact",
}
_MEDIA_FEATURES = [
    {"name": "prefers-color-scheme", "value": "light"},
    {"name": "prefers-reduced-motion", "value": "no-preference"},
    {"name": "forced-colors", "value": "none"},
    {"name": "prefers-contrast", "value": "no-preference"},
]
# A service worker could answer the page's requests from its own cache, unseen.
_NO_SERVICE_WORKERS = (
    "if (self.ServiceWorkerContainer) ServiceWorkerContainer.prototype.register = "
    "async () => { throw new DOMException('service workers are disabled', 'SecurityError'); };"
)
_INTERCEPT_ALL = {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]}
# GuardAnswer.abort's codes (Playwright's names, which the guard kept) as Fetch's reasons.
_ERROR_REASONS = {
    "aborted": "Aborted",
    "accessdenied": "AccessDenied",
    "addressunreachable": "AddressUnreachable",
    "blockedbyclient": "BlockedByClient",
    "blockedbyresponse": "BlockedByResponse",
    "connectionaborted": "ConnectionAborted",
    "connectionclosed": "ConnectionClosed",
    "connectionfailed": "ConnectionFailed",
    "connectionrefused": "ConnectionRefused",
    "connectionreset": "ConnectionReset",
    "internetdisconnected": "InternetDisconnected",
    "namenotresolved": "NameNotResolved",
    "timedout": "TimedOut",
    "failed": "Failed",
}


class EvaluateError(CdpError):
    """The page's script threw (or rejected) while a call evaluated it."""


class PageListener(Protocol):
    """What the page reports besides its requests."""

    def answer(self, request: GuardRequest) -> GuardAnswer: ...

    def websocket(self, url: str) -> None: ...

    def request_failed(self, url: str, resource_type: str) -> None: ...

    def console(self, text: str) -> None: ...


class PageTarget:
    """A page, its context and its session; closed with :meth:`close`."""

    def __init__(
        self,
        chrome: Chrome,
        *,
        width: int,
        height: int,
        begin_frame: bool,
        scripts: list[str],
        listener: PageListener,
    ) -> None:
        self.chrome = chrome
        self.listener = listener
        self.errors: list[str] = []  # uncaught exceptions, first line each
        self._requests: dict[str, tuple[str, str]] = {}  # Network requestId → (url, type)
        self._answering = ThreadPoolExecutor(max_workers=4, thread_name_prefix="page-requests")
        self._scripts = [_NO_SERVICE_WORKERS, *scripts]
        browser = chrome.browser
        self.context_id = browser.send("Target.createBrowserContext", {"disposeOnDetach": True})[
            "browserContextId"
        ]
        try:
            create: dict[str, Any] = {
                "url": "about:blank",
                "browserContextId": self.context_id,
                "width": width,
                "height": height,
            }
            if begin_frame:
                create["enableBeginFrameControl"] = True
            self.target_id = browser.send("Target.createTarget", create)["targetId"]
            session_id = browser.send(
                "Target.attachToTarget", {"targetId": self.target_id, "flatten": True}
            )["sessionId"]
            self.session = CdpSession(chrome, session_id)
            self._set_up(self.session, "page", width=width, height=height)
        except BaseException:
            self.close()
            raise

    # -- set-up -------------------------------------------------------------------------

    def _set_up(self, session: CdpSession, kind: str, *, width: int = 0, height: int = 0) -> None:
        """Listen, emulate and intercept on ``session`` before any of its scripts runs:
        the page (``kind`` "page"), or one of its out-of-process frames ("iframe") or
        workers ("worker")."""
        session.on("Fetch.requestPaused", lambda e: self._pause(session, e))
        session.on("Network.requestWillBeSent", self._request_sent)
        session.on("Network.loadingFinished", self._request_done)
        session.on("Network.loadingFailed", self._request_failed)
        session.on("Network.webSocketCreated", lambda e: self.listener.websocket(e["url"]))
        session.on("Runtime.exceptionThrown", self._exception)
        session.on("Log.entryAdded", lambda e: self.listener.console(e["entry"].get("text", "")))
        session.on("Runtime.consoleAPICalled", self._console_api)
        session.on("Target.attachedToTarget", self._attached)
        calls: list[tuple[str, dict[str, Any] | None]] = []
        if kind != "worker":
            calls += [("Page.enable", None), ("Log.enable", None)]
        calls += [
            ("Runtime.enable", None),
            ("Network.enable", None),
            ("Network.setCacheDisabled", {"cacheDisabled": True}),
            ("Fetch.enable", _INTERCEPT_ALL),
            ("Emulation.setUserAgentOverride", {"userAgent": "", "acceptLanguage": "en-US"}),
        ]
        if kind == "page":
            calls += [
                ("Emulation.setFocusEmulationEnabled", {"enabled": True}),
                ("Emulation.setDeviceMetricsOverride", _metrics(width, height)),
            ]
        if kind != "worker":
            calls += [
                ("Emulation.setLocaleOverride", {"locale": "en-US"}),
                ("Emulation.setTimezoneOverride", {"timezoneId": "UTC"}),
                ("Page.setFontFamilies", {"fontFamilies": _FONT_FAMILIES}),
                ("Emulation.setEmulatedMedia", {"media": "", "features": _MEDIA_FEATURES}),
                *(("Page.addScriptToEvaluateOnNewDocument", {"source": s}) for s in self._scripts),
            ]
        calls.append(
            (
                "Target.setAutoAttach",
                {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
            )
        )
        for method, params in calls:
            if kind == "page":
                session.send(method, params)
            else:  # a frame or worker may not support every call; it must start anyway
                try:
                    session.send(method, params)
                except CdpError:
                    if session.closed:
                        return
        if kind != "page":
            session.post("Runtime.runIfWaitingForDebugger")

    def _attached(self, event: dict[str, Any]) -> None:
        """A frame in another process or a worker started, paused until it is set up."""
        child = CdpSession(self.chrome, event["sessionId"])
        kind = event["targetInfo"]["type"]
        if kind not in ("iframe", "worker"):  # service workers cannot register; others idle
            child.post("Runtime.runIfWaitingForDebugger")
            self.session.post("Target.detachFromTarget", {"sessionId": event["sessionId"]})
            return
        # Its calls wait for answers, which this (the reader) thread delivers.
        self._answering.submit(self._set_up, child, kind)

    # -- events ---------------------------------------------------------------------------

    def _pause(self, session: CdpSession, event: dict[str, Any]) -> None:
        self._answering.submit(self._answer, session, event)

    def _answer(self, session: CdpSession, event: dict[str, Any]) -> None:
        request = event["request"]
        body = b"".join(
            base64.b64decode(e.get("bytes", "")) for e in request.get("postDataEntries", [])
        )
        paused = GuardRequest(
            url=request["url"] + request.get("urlFragment", ""),
            method=request["method"],
            headers={k.lower(): v for k, v in request.get("headers", {}).items()},
            body=body or None,
            resource_type=event.get("resourceType", "").lower(),
            entry_navigation=(
                event.get("resourceType") == "Document" and event.get("frameId") == self.target_id
            ),
        )
        try:
            reply = self.listener.answer(paused)
        except Exception:
            reply = GuardAnswer.refused("failed")
        if reply.abort is not None:
            session.post(
                "Fetch.failRequest",
                {
                    "requestId": event["requestId"],
                    "errorReason": _ERROR_REASONS.get(reply.abort, "Failed"),
                },
            )
            return
        headers = dict(reply.headers)
        if not any(name.lower() == "content-length" for name in headers):
            headers["content-length"] = str(len(reply.body))
        session.post(
            "Fetch.fulfillRequest",
            {
                "requestId": event["requestId"],
                "responseCode": reply.status,
                "responsePhrase": _phrase(reply.status),
                "responseHeaders": [{"name": k, "value": v} for k, v in headers.items()],
                "body": base64.b64encode(reply.body).decode(),
            },
        )

    def _request_sent(self, event: dict[str, Any]) -> None:
        self._requests[event["requestId"]] = (
            event["request"]["url"],
            event.get("type", "").lower(),
        )

    def _request_done(self, event: dict[str, Any]) -> None:
        self._requests.pop(event["requestId"], None)

    def _request_failed(self, event: dict[str, Any]) -> None:
        url, kind = self._requests.pop(event["requestId"], ("", ""))
        if url:
            self.listener.request_failed(url, kind)

    def _exception(self, event: dict[str, Any]) -> None:
        self.errors.append(_exception_text(event["exceptionDetails"]))

    def _console_api(self, event: dict[str, Any]) -> None:
        parts = [str(a.get("value", a.get("description", ""))) for a in event.get("args", [])]
        self.listener.console(" ".join(parts))

    # -- calls ----------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A DevTools call on the page (beginFrame, screenshots, emulation)."""
        return self.session.send(method, params)

    def evaluate(self, function: str, arg: Any = None, *, timeout: float | None = None) -> Any:
        """Call the JavaScript ``function`` (its source) with ``arg`` (JSON) in the page
        and return its JSON result, awaiting a promise; raises EvaluateError if it throws."""
        argument = "undefined" if arg is None else json.dumps(arg)
        reply = self.session.send(
            "Runtime.evaluate",
            {
                "expression": f"({function})({argument})",
                "awaitPromise": True,
                "returnByValue": True,
            },
            timeout=timeout,
        )
        if "exceptionDetails" in reply:
            raise EvaluateError(_exception_text(reply["exceptionDetails"]) or "the script threw")
        return reply.get("result", {}).get("value")

    def navigate(self, url: str, *, timeout: float) -> None:
        """Go to ``url`` and wait for its load event."""
        loaded = threading.Event()
        self.session.on("Page.loadEventFired", lambda _e: loaded.set())
        reply = self.session.send("Page.navigate", {"url": url}, timeout=timeout)
        if reply.get("errorText"):
            raise CommandFailedError(f"navigating to {url}: {reply['errorText']}")
        give_up = time.monotonic() + timeout
        while not loaded.wait(0.05):
            if self.session.closed:
                raise TargetClosedError(f"the page closed or crashed while loading {url}")
            if time.monotonic() > give_up:
                raise CdpTimeoutError(f"Timeout: {url} did not load within {timeout:g} s")

    def wait_for(self, function: str, *, timeout: float, every: float = 0.02) -> None:
        """Poll ``function`` on a timer until it returns something truthy."""
        give_up = time.monotonic() + timeout
        while not self.evaluate(function, timeout=timeout):
            if time.monotonic() > give_up:
                raise CdpTimeoutError(f"Timeout: waiting for {function} took over {timeout:g} s")
            time.sleep(every)

    def close(self) -> None:
        """Dispose of the page's context (closing the page); never raises."""
        self._answering.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(CdpError):
            self.chrome.browser.send(
                "Target.disposeBrowserContext", {"browserContextId": self.context_id}, timeout=10
            )


def _metrics(width: int, height: int) -> dict[str, Any]:
    return {
        "mobile": False,
        "width": width,
        "height": height,
        "screenWidth": width,
        "screenHeight": height,
        "deviceScaleFactor": 1,
        "screenOrientation": {"angle": 0, "type": "landscapePrimary"},
    }


def _exception_text(details: dict[str, Any]) -> str:
    """The first line of a thrown exception as the page describes it ("Error: boom")."""
    text = details.get("exception", {}).get("description") or details.get("text", "")
    return (str(text).splitlines() or [""])[0]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
