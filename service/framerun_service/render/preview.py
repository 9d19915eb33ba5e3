"""The preview server: a composition in an ordinary browser, loaded as a render loads it.

A render's page gets everything through request interception (cdppage.py)
(``pageguard.py``) and its runtime as init scripts (``pageinit.py``). An ordinary
browser has neither, so this HTTP server (standard library, loopback by default)
stands in for both:

    request                                 answer
    --------------------------------------  -------------------------------------------
    /__framerun/                            the preview page (``previewui/``): scrubber,
                                            play/pause, stepping, the variables form
    /__framerun/sw.js                       a service worker that sends every request
                                            the composition makes to another origin
                                            (the bundled fonts' virtual origin, https:
                                            URLs, …) to /__framerun/relay
    /__framerun/relay?url=U                 ``PageGuard.answer`` for U: the guard decides,
                                            as in a render; a refusal is a network error
    /__framerun/init/<i>.js                 the runtime and the adapters
    /__framerun/api/…                       the composition, its variables, the refusals
    /__framerun/video-frame/…               a <video>'s picture: the guard (videoframes.py)
    anything else                           ``PageGuard.answer`` for the same path on the
                                            site's virtual origin; HTML documents get the
                                            config and init scripts first in <head>

The composition is shown in a same-origin iframe at its native size and driven
through the runtime's ``seek`` (``previewui/preview.js``), so the frame shown is
the frame a render captures. The page draws without beginFrame, as an ordinary
browser does: the runtime then waits for pending compositor animations itself.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from framerun_service.core.errors import FramerunError, InvalidConfigError, setting
from framerun_service.render.composition import Composition, load_composition
from framerun_service.render.htmlscan import scan
from framerun_service.render.intravideo import prepare_intra_copies
from framerun_service.render.netguard import (
    SITE_ORIGIN,
    Fetcher,
    HttpsFetcher,
    Kind,
    classify,
    display_url,
    system_resolver,
)
from framerun_service.render.pageguard import GuardAnswer, GuardRequest, PageGuard
from framerun_service.render.pageinit import config_script, init_script_paths, page_config
from framerun_service.render.settings import EngineSettings, engine_settings
from framerun_service.render.variables import resolve_variables
from framerun_service.render.videoframes import (
    FRAME_PATH,
    VideoFrames,
    VideoInfo,
    servable_videos,
)

__all__ = ["PREFIX", "PreviewServer"]

PREFIX = "/__framerun"
UI_DIR = Path(__file__).with_name("previewui")
UI_FILES = {"index.html": "text/html; charset=utf-8", "preview.js": "text/javascript",
            "preview.css": "text/css"}  # fmt: skip
# The header a refused relay answer carries: the service worker turns it into a network
# error, as a render's route.abort() is one.
REFUSED_HEADER = "x-framerun-refused"
# Every relay answer carries this: a service worker left registered for this origin
# that meets another server here unregisters itself (sw.js).
RELAY_HEADER = "x-framerun-relay"
DESTINATION_HEADER = "x-framerun-destination"
# Request headers that describe the hop to this server, not the page's request.
_HOP_HEADERS = frozenset(
    {"host", "connection", "content-length", "cookie", "keep-alive", "transfer-encoding",
     "upgrade", "origin", "referer"}
)  # fmt: skip
# Sec-Fetch-Dest → the resource type Chrome would report (what the guard reads).
_RESOURCE_TYPES = {
    "document": "document", "iframe": "document", "frame": "document", "font": "font",
    "image": "image", "script": "script", "worker": "script", "sharedworker": "script",
    "style": "stylesheet", "audio": "media", "video": "media", "track": "media",
    "manifest": "manifest", "": "fetch", "empty": "fetch",
}  # fmt: skip
# WebSockets bypass service workers: the browser itself refuses the composition's, and
# reports each to /__framerun/csp. Everything else connect-src covers is relayed (sw.js).
SOCKET_POLICY = {
    "content-security-policy": f"connect-src 'self' http: https: data: blob:; "
    f"report-uri {PREFIX}/csp"
}
_DOCTYPE = re.compile(r"\A\s*<!doctype[^>]*>", re.IGNORECASE)


class PreviewServer:
    """Serves one composition for preview; ``url`` is the page to open.

    Raises the load errors ``framerun render`` gives for a bad project, and
    InvalidConfigError when the address cannot be bound. ``fetcher`` is the
    network guard's seam, as in ``BrowserSession``.
    """

    def __init__(
        self,
        project_dir: str | Path,
        *,
        entry: str = "index.html",
        host: str = "127.0.0.1",
        port: int = 0,
        settings: EngineSettings | None = None,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.composition: Composition = load_composition(project_dir, entry=entry)
        self.settings = settings or engine_settings()
        project = self.composition.project_dir
        self._posters: dict[str, VideoInfo] = servable_videos(project)
        prepare_intra_copies(project, shown_as_posters=self._posters)
        self._fetcher = fetcher or HttpsFetcher(
            timeout_s=self.settings.fetch_timeout_s, max_bytes=self.settings.max_fetch_bytes
        )
        self._lock = threading.Lock()  # the variables
        self._files_lock = threading.Lock()  # answers from the project's files
        self._variables = dict(self.composition.variables)
        self._guard = self._new_guard()
        self._httpd = _bind(host, port, self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = (str(part) for part in self._httpd.server_address[:2])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{PREFIX}/"

    def host_allowed(self, host_header: str) -> bool:
        """Whether a request's Host names this server (always, when it listens beyond
        loopback: then the user chose which names reach it)."""
        host, port = (str(part) for part in self._httpd.server_address[:2])
        if not ipaddress.ip_address(host).is_loopback:
            return True
        names = {host, "localhost", "127.0.0.1", "[::1]", f"[{host}]"}
        return host_header.lower() in {f"{name}:{port}" for name in names}

    @property
    def guard(self) -> PageGuard:
        """The current page's guard (a new one each time the entry is loaded)."""
        return self._guard

    def _new_guard(self) -> PageGuard:
        return PageGuard(
            self.composition.project_dir,
            resolver=system_resolver,
            fetcher=self._fetcher,
            entry=self.composition.entry,
            # <video> pictures as PNG, as a --quality high render has them (videoframes.py).
            video_frames=VideoFrames(lossless=True),
        )

    # ---- serving --------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Answer requests until :meth:`close` (or Ctrl-C in the calling thread)."""
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> PreviewServer:
        """Serve on a background thread (once, however often it is called); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self._guard.video_frames.close()

    def __enter__(self) -> PreviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- what the page asks -----------------------------------------------------------

    def reload(self) -> None:
        """Read the entry's root attributes and declarations again, since the user edits
        the composition while previewing it; values set in the form are kept."""
        composition = load_composition(self.composition.project_dir, entry=self.composition.entry)
        declared = {d.id for d in composition.declarations}
        with self._lock:
            kept = {k: v for k, v in self._variables.items() if k in declared}
            self._variables, _ = resolve_variables(composition.declarations, kept, strict=False)
            self.composition = composition

    def composition_json(self) -> dict[str, Any]:
        c = self.composition
        return {
            "entry": c.entry,
            "width": c.width,
            "height": c.height,
            "fps": float(c.fps),
            "fpsText": str(c.fps),
            "duration": float(c.duration),
            "frames": c.total_frames,
            "declarations": [asdict(d) for d in c.declarations],
            "variables": self.variables,
            "warnings": list(c.warnings),
        }

    @property
    def variables(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._variables)

    def set_variables(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Merge ``values`` over the declared defaults as ``framerun render --variables``
        does, and keep them for the next load of the page; returns every variable's value
        and the warnings (a mistyped value falls back to its default)."""
        resolved, warnings = resolve_variables(self.composition.declarations, values, strict=False)
        with self._lock:
            self._variables = resolved
        return dict(resolved), warnings

    def refusals(self) -> list[dict[str, str]]:
        return [
            {"url": display_url(r.url), "reason": r.reason, "type": r.resource_type}
            for r in self._guard.refusals
        ]

    def answer(self, request: GuardRequest) -> GuardAnswer:
        """The guard's answer; a document the page navigates to gets the init scripts."""
        if request.entry_navigation:
            self._guard = self._new_guard()  # a fresh page: its refusals start afresh
        guard = self._guard
        if classify(request.url).kind is Kind.FETCH:
            answer = guard.answer(request)  # may take seconds: other requests go on meanwhile
        else:
            with self._files_lock:  # a page's video decoders (videoframes.py) are not shared
                answer = guard.answer(request)
        if request.resource_type == "document" and answer.abort is None:
            answer = self._with_init_scripts(answer)
        return answer

    def _with_init_scripts(self, answer: GuardAnswer) -> GuardAnswer:
        """As a render's init scripts: the config, the runtime and the adapters run before
        any script of the document."""
        content_type = {k.lower(): v for k, v in answer.headers.items()}.get("content-type", "")
        if answer.status != 200 or not content_type.startswith("text/html"):
            return answer
        try:
            text = answer.body.decode("utf-8")
        except UnicodeDecodeError:
            return answer
        config = page_config(
            fps=float(self.composition.fps),
            width=self.composition.width,
            height=self.composition.height,
            variables=self.variables,
            seed=0,  # as chunk.page_spec leaves it
            begin_frame=False,
            posters=self._posters,
        )
        scripts = f"<script>{config_script(config)}</script>" + "".join(
            f'<script src="{PREFIX}/init/{i}.js"></script>' for i in range(len(init_script_paths()))
        )
        doc = scan(text)
        at = doc.head_open_end if doc.head_open_end is not None else doc.html_open_end
        if at is None:
            doctype = _DOCTYPE.match(text)
            at = doctype.end() if doctype else 0
        body = (text[:at] + scripts + text[at:]).encode("utf-8")
        return GuardAnswer(answer.status, {**answer.headers, **SOCKET_POLICY}, body)

    def refuse_socket(self, url: str) -> None:
        """A WebSocket the browser refused by SOCKET_POLICY: a render's guard refuses it too
        (``PageGuard.websocket``), so it is listed with the guard's reason."""
        self._guard.refuse(url, classify(url).reason, "websocket")


def _bind(host: str, port: int, preview: PreviewServer) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"preview": preview})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The browser keeps idle connections open: closing must not wait for their threads.
    server_class = type(
        "Server",
        (ThreadingHTTPServer,),
        {"address_family": family, "block_on_close": False, "daemon_threads": True},
    )
    try:
        server: ThreadingHTTPServer = server_class((host, port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InvalidConfigError(
                f"port {port} on {host} is already in use; pass {setting('port')} with a "
                "free port, or 0 to pick one"
            ) from None
        raise InvalidConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass a local address "
            f"with {setting('host')} (e.g. 127.0.0.1)"
        ) from None
    return server


class _Handler(BaseHTTPRequestHandler):
    preview: PreviewServer
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection's thread ends after this

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the page shows what matters (refusals, script errors), not every request

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        try:
            if not self.preview.host_allowed(self.headers.get("host", "")):
                # A web page whose name was re-pointed at 127.0.0.1 (DNS rebinding) would
                # otherwise read the project's files as its own origin.
                self._send(421, {"content-type": "text/plain"}, b"unknown host")
            elif url.path.startswith(FRAME_PATH + "/"):
                self._site(url)  # a <video>'s picture: the guard answers (videoframes.py)
            elif url.path == PREFIX or url.path.startswith(PREFIX + "/"):
                self._own(url.path.removeprefix(PREFIX), url.query)
            elif url.path == "/" and self._dest() == "document":
                self._send(HTTPStatus.FOUND, {"location": f"{PREFIX}/"}, b"")
            else:
                self._site(url)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away

    # ---- the preview's own paths -----------------------------------------------------------

    def _own(self, path: str, query: str) -> None:
        if path in ("", "/"):
            path = "/index.html"
        name = path.lstrip("/")
        if name in UI_FILES and self.command in ("GET", "HEAD"):
            self._send(200, {"content-type": UI_FILES[name]}, (UI_DIR / name).read_bytes())
        elif name == "sw.js":
            # Its scope is the whole origin: the composition is served from the root.
            headers = {"content-type": "text/javascript", "service-worker-allowed": "/"}
            self._send(200, headers, (UI_DIR / "sw.js").read_bytes())
        elif name.startswith("init/") and name.endswith(".js"):
            self._init_script(name.removeprefix("init/").removesuffix(".js"))
        elif name == "relay":
            self._relay(parse_qs(query).get("url", [""])[0])
        elif name == "api/composition":
            try:
                self.preview.reload()  # the preview page was (re)loaded: edits show
            except FramerunError as exc:
                self._json(exc.http_status, {"code": exc.code, "message": exc.cli_message})
                return
            self._json(200, self.preview.composition_json())
        elif name == "api/refusals":
            self._json(200, {"refusals": self.preview.refusals()})
        elif name == "csp" and self.command == "POST":
            self._csp_report()
        elif name == "api/variables" and self.command == "POST":
            self._set_variables()
        else:
            self._send(404, {"content-type": "text/plain"}, b"not found")

    def _init_script(self, index: str) -> None:
        paths = init_script_paths()
        if not index.isdigit() or int(index) >= len(paths):
            self._send(404, {"content-type": "text/plain"}, b"not found")
            return
        self._send(200, {"content-type": "text/javascript"}, paths[int(index)].read_bytes())

    def _csp_report(self) -> None:
        try:
            report = json.loads(self._body() or b"{}").get("csp-report", {})
            blocked = str(report.get("blocked-uri", ""))
        except (ValueError, AttributeError):
            blocked = ""
        if blocked.startswith(("ws:", "wss:")):
            self.preview.refuse_socket(blocked)
        self._send(204, {}, b"")

    def _set_variables(self) -> None:
        try:
            values = json.loads(self._body() or b"{}")
            if not isinstance(values, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self._json(400, {"code": "VARIABLES_INVALID", "message": f"not JSON: {exc}"})
            return
        try:
            variables, warnings = self.preview.set_variables(values)
        except FramerunError as exc:
            self._json(exc.http_status, {"code": exc.code, "message": exc.cli_message})
            return
        self._json(200, {"variables": variables, "warnings": warnings})

    # ---- the composition's requests -----------------------------------------------------

    def _site(self, url: Any) -> None:
        target = SITE_ORIGIN + url.path + (f"?{url.query}" if url.query else "")
        navigation = self._navigation()
        entry = url.path.lstrip("/") in ("", self.preview.composition.entry) and navigation
        self._answer(
            GuardRequest(
                url=target,
                method=self.command,
                headers=self._page_headers(),
                body=self._body(),
                resource_type="document" if navigation else self._resource_type(),
                entry_navigation=entry,
            )
        )

    def _relay(self, target: str) -> None:
        """A request the composition made to another origin, forwarded by the service worker."""
        dest = self.headers.get(DESTINATION_HEADER, "")
        self._answer(
            GuardRequest(
                url=target,
                method=self.command,
                headers=self._page_headers(),
                body=self._body(),
                resource_type=_RESOURCE_TYPES.get(dest, "other"),
            ),
            {RELAY_HEADER: "1"},
        )

    def _answer(self, request: GuardRequest, extra: Mapping[str, str] | None = None) -> None:
        answer = self.preview.answer(request)
        if answer.abort is not None:
            reason = next(
                (r.reason for r in self.preview.guard.refusals if r.url == request.url),
                "refused",
            )
            headers = {"content-type": "text/plain", REFUSED_HEADER: answer.abort, **(extra or {})}
            self._send(502, headers, f"refused by framerun: {reason}".encode())
            return
        headers = {k.lower(): v for k, v in answer.headers.items()} | dict(extra or {})
        for hop in ("content-length", "transfer-encoding", "connection", "content-encoding"):
            headers.pop(hop, None)
        # The composition's own documents must not be cached: a variable change reloads them.
        headers.setdefault("cache-control", "no-store")
        self._send(answer.status, headers, answer.body)

    # ---- HTTP plumbing --------------------------------------------------------------------

    def _dest(self) -> str:
        return self.headers.get("sec-fetch-dest", "document")

    def _navigation(self) -> bool:
        mode = self.headers.get("sec-fetch-mode")
        if mode is not None:
            return mode == "navigate"
        return "text/html" in self.headers.get("accept", "")  # a browser without Sec-Fetch-*

    def _resource_type(self) -> str:
        return _RESOURCE_TYPES.get(self.headers.get("sec-fetch-dest", ""), "other")

    def _page_headers(self) -> dict[str, str]:
        return {
            name.lower(): value
            for name, value in self.headers.items()
            if name.lower() not in _HOP_HEADERS
            and not name.lower().startswith(("sec-", "x-framerun-"))
        }

    def _body(self) -> bytes | None:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else None

    def _json(self, status: int, value: Any) -> None:
        body = json.dumps(value).encode("utf-8")
        self._send(status, {"content-type": "application/json", "cache-control": "no-store"}, body)

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
