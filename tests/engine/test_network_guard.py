"""The network guard in a real browser: a composition may load its own files and public
https: URLs only; everything else fails the render with ASSET_FETCH_FAILED naming the URL.

DNS and HTTPS go through the session's seam (a fake resolver and fetcher), so the
tests run without a network; a real loopback server proves nothing reached it.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from framerun_service.core.errors import AssetFetchFailedError, FramerunError
from framerun_service.render.browser import BrowserSession, CompositionPage, PageSpec
from framerun_service.render.netguard import (
    FetchRequest,
    FetchResponse,
    HttpsFetcher,
    RefusedError,
)
from framerun_service.render.probe import probe_composition
from tests.compositions import write_composition

METADATA_TOKEN = "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token"
METADATA_NAME = "http://metadata.google.internal/computeMetadata/v1/project/project-id"
PUBLIC_IP = "93.184.216.34"


class FakeNet:
    """The session's resolver and fetcher: answers by host / URL, records every call."""

    def __init__(self) -> None:
        self.dns: dict[str, list[str]] = {}
        self.responses: dict[str, FetchResponse] = {}
        self.resolved: list[str] = []
        self.fetched: list[FetchRequest] = []

    def resolve(self, host: str, port: int) -> Sequence[str]:
        self.resolved.append(host)
        # Like getaddrinfo: an IP literal "resolves" to itself.
        return self.dns.get(host, [host] if host[:1].isdigit() or ":" in host else [])

    def fetch(self, request: FetchRequest) -> FetchResponse:
        self.fetched.append(request)
        return self.responses.get(request.url, FetchResponse(404, (), b""))


class LoopbackServer(ThreadingHTTPServer):
    """Counts every TCP connection, HTTP or not (a TLS hello or WebSocket upgrade too)."""

    def __init__(self) -> None:
        self.hits: list[Any] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.hits.append(client_address)
        return True


@pytest.fixture(scope="module")
def net() -> FakeNet:
    return FakeNet()


@pytest.fixture(scope="module")
def session(net: FakeNet) -> Iterator[BrowserSession]:
    session = BrowserSession(resolver=net.resolve, fetcher=net.fetch)
    yield session
    session.close()


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _fresh(net: FakeNet, loopback: LoopbackServer) -> Iterator[None]:
    net.__init__()  # type: ignore[misc]
    yield
    assert loopback.hits == [], "a request reached the loopback server"


def _open(session: BrowserSession, project: Path) -> CompositionPage:
    return session.open(PageSpec(project, "index.html", 320, 240, 30.0, {}))


def _open_error(session: BrowserSession, project: Path) -> FramerunError:
    """The error opening ``project`` and showing its first frame raises."""
    try:
        page = _open(session, project)
        try:
            page.seek(0)
        finally:
            page.close()
    except FramerunError as exc:
        return exc
    pytest.fail("the page opened and seeked without an error")


REQUESTS = {
    "fetch": "<script>fetch('{u}').catch(() => {{}});</script>",
    "img": "<img src='{u}'>",
    "script": "<script src='{u}'></script>",
    "css": "<div style=\"width:20px;height:20px;background:url('{u}')\"></div>",
    "xhr": "<script>const x = new XMLHttpRequest(); x.open('GET', '{u}');"
    "x.onerror = () => {{}}; x.send();</script>",
}
TARGETS = {
    "metadata-ip": (METADATA_TOKEN, "metadata server"),
    "metadata-name": (METADATA_NAME, "metadata server"),
    "loopback": ("http://127.0.0.1:{port}/hit", "loopback"),
    "private": ("http://10.0.0.1/internal", "private"),
    "file": ("file:///etc/passwd", "file:"),
}


@pytest.mark.parametrize("kind", sorted(REQUESTS))
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_forbidden_targets_fail_the_render_naming_the_url(
    tmp_path: Path,
    session: BrowserSession,
    net: FakeNet,
    loopback: LoopbackServer,
    kind: str,
    target: str,
) -> None:
    url, reason = TARGETS[target]
    url = url.format(port=loopback.server_port)
    project = write_composition(tmp_path / "p", REQUESTS[kind].format(u=url))
    error = _open_error(session, project)
    assert isinstance(error, AssetFetchFailedError)
    assert error.code == "ASSET_FETCH_FAILED"
    # Chrome upgrades passive mixed content (img, CSS) to https: before we see it.
    assert url.split("://", 1)[1] in error.message
    assert reason in error.message
    assert net.fetched == []


# Request types Playwright's route may never see: each must still be reported.
OTHER_REQUESTS = {
    "websocket": ("<script>new WebSocket('ws://127.0.0.1:{port}/ws');</script>", "ws://127.0.0.1"),
    "beacon": ("<script>navigator.sendBeacon('http://127.0.0.1:{port}/b', 'x');</script>", "/b"),
    "iframe-file": ("<iframe src='file:///etc/passwd'></iframe>", "file:///etc/passwd"),
    "iframe-metadata": (f"<iframe src='{METADATA_TOKEN}'></iframe>", "169.254.169.254"),
    "css-import": (
        "<style>@import url('http://10.0.0.1/x.css');</style>",
        "http://10.0.0.1/x.css",
    ),
    "event-source": ("<script>new EventSource('http://10.0.0.1/events');</script>", "/events"),
    "chrome-scheme": ("<iframe src='chrome://version'></iframe>", "chrome://version"),
    "worker-fetch": (
        "<script>const w = new Worker(URL.createObjectURL(new Blob("
        "[\"fetch('https://10.0.0.9/w').catch(() => postMessage(0))\"])));"
        "window.__framerun.delay(new Promise((ok) => w.onmessage = ok));</script>",
        "https://10.0.0.9/w",
    ),
}


@pytest.mark.parametrize("kind", sorted(OTHER_REQUESTS))
def test_other_request_types_are_reported(
    tmp_path: Path, session: BrowserSession, loopback: LoopbackServer, kind: str
) -> None:
    body, named = OTHER_REQUESTS[kind]
    project = write_composition(tmp_path / "p", body.format(port=loopback.server_port))
    error = _open_error(session, project)
    assert isinstance(error, AssetFetchFailedError), error
    assert named in error.message


def test_a_name_resolving_to_loopback_is_refused_before_connecting(
    tmp_path: Path, session: BrowserSession, net: FakeNet, loopback: LoopbackServer
) -> None:
    url = f"https://rebind.example.com:{loopback.server_port}/secret"
    net.dns["rebind.example.com"] = ["127.0.0.1"]
    project = write_composition(tmp_path / "p", f"<img src='{url}'>")
    error = _open_error(session, project)
    assert isinstance(error, AssetFetchFailedError)
    assert url in error.message
    assert "resolves to 127.0.0.1, a loopback address" in error.message
    assert net.resolved == ["rebind.example.com"]
    assert net.fetched == []


def test_a_public_url_redirecting_to_the_metadata_server_is_refused(
    tmp_path: Path, session: BrowserSession, net: FakeNet
) -> None:
    url = "https://cdn.example.com/logo.png"
    net.dns["cdn.example.com"] = [PUBLIC_IP]
    net.responses[url] = FetchResponse(302, (("Location", METADATA_TOKEN),), b"")
    project = write_composition(tmp_path / "p", f"<img src='{url}'>")
    error = _open_error(session, project)
    assert isinstance(error, AssetFetchFailedError)
    assert url in error.message
    assert f"redirects to {METADATA_TOKEN}: the cloud metadata server" in error.message
    assert [r.url for r in net.fetched] == [url]  # the metadata hop was never fetched


def test_public_https_is_fetched_from_the_checked_address(
    tmp_path: Path, session: BrowserSession, net: FakeNet
) -> None:
    net.dns["cdn.example.com"] = [PUBLIC_IP]
    net.responses["https://cdn.example.com/lib.js"] = FetchResponse(
        200, (("content-type", "text/javascript"),), b"window.libLoaded = 42;"
    )
    net.responses["https://cdn.example.com/data.json"] = FetchResponse(
        200,
        (("content-type", "application/json"), ("access-control-allow-origin", "*")),
        b'{"answer": 7}',
    )
    body = (
        "<script src='https://cdn.example.com/lib.js'></script><script>"
        "window.__framerun.delay(fetch('https://cdn.example.com/data.json')"
        ".then((r) => r.json()).then((j) => { window.answer = j.answer; }));</script>"
    )
    page = _open(session, write_composition(tmp_path / "p", body))
    try:
        page.seek(0)
        assert page.page.evaluate("() => [window.libLoaded, window.answer]") == [42, 7]
    finally:
        page.close()
    assert {r.address for r in net.fetched} == {PUBLIC_IP}


def test_public_https_errors_fail_closed(
    tmp_path: Path, session: BrowserSession, net: FakeNet
) -> None:
    net.dns["cdn.example.com"] = [PUBLIC_IP]  # every URL answers 404
    project = write_composition(tmp_path / "p", "<img src='https://cdn.example.com/gone.png'>")
    error = _open_error(session, project)
    assert isinstance(error, AssetFetchFailedError)
    assert "https://cdn.example.com/gone.png (answered HTTP 404)" in error.message


def test_a_frame_script_fetch_fails_the_seek_that_made_it(
    tmp_path: Path, session: BrowserSession
) -> None:
    body = (
        "<script>setTimeout(() => window.__framerun.delay("
        "fetch('http://10.0.0.1/late').catch(() => {})), 500);</script>"
    )
    page = _open(session, write_composition(tmp_path / "p", body))
    try:
        page.seek(0)
        with pytest.raises(AssetFetchFailedError, match=r"http://10\.0\.0\.1/late"):
            page.seek(20)  # t = 0.667 s: the timer fired during this seek
    finally:
        page.close()


def test_a_missing_site_file_fails_naming_its_path(tmp_path: Path, session: BrowserSession) -> None:
    body = "<link rel='icon' href='/favicon.ico'><img src='img/missing.png'>"
    error = _open_error(session, write_composition(tmp_path / "p", body))
    assert isinstance(error, AssetFetchFailedError)
    assert "img/missing.png (not in the composition folder)" in error.message
    assert "favicon" not in error.message  # browsers ask for it unprompted
    assert "add the files to the composition folder" in error.message


def test_site_files_answer_byte_ranges(tmp_path: Path, session: BrowserSession) -> None:
    project = write_composition(
        tmp_path / "p",
        "<script>window.__framerun.delay(Promise.all("
        "['bytes=2-5', 'bytes=-3', 'bytes=300-'].map((range) => fetch('data.bin', "
        "{headers: {Range: range}}).then(async (r) => [r.status, r.headers.get('content-range'),"
        " Array.from(new Uint8Array(await r.arrayBuffer()))]))).then((x) => window.got = x));"
        "</script>",
    )
    (project / "data.bin").write_bytes(bytes(range(256)))
    page = _open(session, project)
    try:
        page.seek(0)
        assert page.page.evaluate("() => window.got") == [
            [206, "bytes 2-5/256", [2, 3, 4, 5]],
            [206, "bytes 253-255/256", [253, 254, 255]],
            [416, "bytes */256", []],
        ]
    finally:
        page.close()


def _write_webm(path: Path) -> None:
    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(20):
            image = np.full((32, 32, 3), i * 12, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())


def test_a_video_element_can_seek_in_a_site_file(tmp_path: Path, session: BrowserSession) -> None:
    """A <video> element loads a site file and seeks in it (Chrome's media loader asks
    with byte ranges; the test above checks the 206 answers themselves; this small file
    is seekable from its buffer either way). The element is not in the document, so the
    engine does not take it over (the video adapter shows the pictures of the document's
    videos itself): the element really seeks."""
    project = write_composition(
        tmp_path / "p",
        "<script>const v = document.createElement('video');"
        "v.muted = true; v.preload = 'auto'; v.src = 'clip.webm';"
        "window.__framerun.delay(new Promise((ok) => v.addEventListener('loadedmetadata', ok))"
        ".then(() => { v.currentTime = 1.5; return new Promise((ok) => v.onseeked = ok); })"
        ".then(() => window.seekedTo = [v.currentTime, v.seekable.length,"
        " v.seekable.length && v.seekable.end(0)]));</script>",
    )
    _write_webm(project / "clip.webm")
    page = _open(session, project)
    try:
        page.seek(0)
        # currentTime after 'seeked', and one seekable range over the 2 s clip
        assert page.page.evaluate("() => window.seekedTo") == [1.5, 1, 2]
    finally:
        page.close()


def test_probe_reports_a_clean_page_and_raises_on_a_refused_one(
    tmp_path: Path, session: BrowserSession
) -> None:
    clean = write_composition(tmp_path / "clean", "<div class='box'></div>")
    report = probe_composition(
        session, PageSpec(clean, "index.html", 320, 240, 30.0, {}), last_frame=29
    )
    assert "SwiftShader" in report.renderer
    assert report.frames == (0, 29)
    late = write_composition(
        tmp_path / "late",
        "<script>setTimeout(() => window.__framerun.delay("
        f"fetch('{METADATA_TOKEN}').catch(() => {{}})), 900);</script>",
    )
    with pytest.raises(AssetFetchFailedError, match=r"169\.254\.169\.254"):
        probe_composition(session, PageSpec(late, "index.html", 320, 240, 30.0, {}), last_frame=29)


def test_loopback_server_counts_connections(loopback: LoopbackServer) -> None:
    """Guards the guard: a plain connection is seen (then forgotten, for the autouse check)."""
    with socket.create_connection(("127.0.0.1", loopback.server_port)) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        conn.recv(100)
    assert len(loopback.hits) == 1
    loopback.hits.clear()


def test_webrtc_cannot_send_udp_around_the_guard(tmp_path: Path, session: BrowserSession) -> None:
    """STUN is UDP: no route sees it. Chrome's WebRTC policy flag keeps it off the wire."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(1.5)
        body = (
            "<script>const pc = new RTCPeerConnection({iceServers: "
            f"[{{urls: 'stun:127.0.0.1:{udp.getsockname()[1]}'}}]}});"
            "pc.createDataChannel('x'); pc.createOffer().then((o) => pc.setLocalDescription(o));"
            "</script>"
        )
        page = _open(session, write_composition(tmp_path / "p", body))
        try:
            page.seek(0)
            with pytest.raises(TimeoutError):
                udp.recvfrom(2048)
        finally:
            page.close()


def test_service_workers_cannot_register(tmp_path: Path, session: BrowserSession) -> None:
    """A service worker could answer the page's requests from its own cache, unseen."""
    project = write_composition(
        tmp_path / "p",
        "<script>window.__framerun.delay((navigator.serviceWorker ? navigator.serviceWorker"
        ".register('sw.js') : Promise.reject()).then("
        "(r) => window.sw = r ? 'registered' : 'refused', () => window.sw = 'refused'));</script>",
    )
    (project / "sw.js").write_text("self.addEventListener('fetch', () => {});")
    page = _open(session, project)
    try:
        page.seek(0)
        assert page.page.evaluate("() => window.sw") == "refused"
    finally:
        page.close()


# ---- the real fetcher, against a local TLS server ----------------------------------------


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """HTTPS on 127.0.0.1 for the name cdn.test; echoes the Host header and path."""
    cert, key = _certificate(tmp_path, "cdn.test")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"{self.headers['Host']} {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Set-Cookie", "session=1")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, cert
    server.shutdown()
    server.server_close()


def _get(url: str, cert: Path, *, max_bytes: int = 1000) -> FetchResponse:
    fetcher = HttpsFetcher(
        timeout_s=5, max_bytes=max_bytes, tls=ssl.create_default_context(cafile=str(cert))
    )
    return fetcher(FetchRequest("GET", url, (("Cookie", "x=1"),), None, "127.0.0.1"))


def test_the_fetcher_connects_to_the_pinned_address_and_checks_the_name(
    tls_server: tuple[int, Path],
) -> None:
    port, cert = tls_server
    # cdn.test resolves nowhere: reaching the server proves the pinned address was used.
    response = _get(f"https://cdn.test:{port}/a/b?c=1", cert)
    assert (response.status, response.body) == (200, f"cdn.test:{port} /a/b?c=1".encode())
    assert response.header("set-cookie") is None  # never handed to the page
    with pytest.raises(RefusedError, match="could not be fetched"):
        _get(f"https://other.test:{port}/", cert)  # the certificate is for cdn.test
    with pytest.raises(RefusedError, match="larger than 4 bytes"):
        _get(f"https://cdn.test:{port}/big", cert, max_bytes=4)
