"""Webhook signatures and delivery, against a tiny local HTTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from framerun.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, sign, verify
from framerun_service.core.errors import WebhookDeliveryError, WebhookSignatureError
from framerun_service.delivery import deliver
from framerun_service.notify import check_webhook_url

SECRET = b"whsec_test"
BODY = b'{"renderId":"r-1","status":"succeeded"}'


def test_sign_verify_round_trip() -> None:
    now = 1_800_000_000
    header = sign(SECRET, BODY, now)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    verify(SECRET, BODY, header, now=now + 10)
    verify(SECRET.decode(), BODY, header, now=now)  # str secrets too


def test_tampered_body_or_wrong_secret_fails() -> None:
    header = sign(SECRET, BODY, 1_800_000_000)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify(SECRET, BODY.replace(b"succeeded", b"failed"), header, now=1_800_000_000)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify(b"other", BODY, header, now=1_800_000_000)


def test_stale_or_future_timestamp_fails() -> None:
    header = sign(SECRET, BODY, 1_800_000_000)
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify(SECRET, BODY, header, now=1_800_000_000 + 301)
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify(SECRET, BODY, header, now=1_800_000_000 - 301)
    verify(SECRET, BODY, header, now=1_800_000_000 + 1000, tolerance_s=1000)


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "v1=00", "t=1"])
def test_malformed_headers_fail(header: str | None) -> None:
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, BODY, header, now=1)


def test_any_of_several_signatures_may_match() -> None:
    good = sign(SECRET, BODY, 100).split(",")[1]
    verify(SECRET, BODY, f"t=100,v1={'0' * 64},{good}", now=100)


class _Receiver:
    """Answers each POST with the next scripted status and keeps what it received."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver_for() -> Iterator[type[_Receiver]]:
    started: list[tuple[_Receiver, threading.Thread]] = []

    class Started(_Receiver):
        def __init__(self, statuses: list[int]) -> None:
            super().__init__(statuses)
            thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            started.append((self, thread))

    yield Started
    for receiver, thread in started:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join()


def test_deliver_retries_a_503_then_succeeds(receiver_for: type[_Receiver]) -> None:
    receiver = receiver_for([503])
    sleeps: list[float] = []
    payload = {"renderId": "r-1", "status": "succeeded"}
    status = deliver(receiver.url, payload, SECRET, backoff_s=0.25, sleep=sleeps.append)
    assert status == 200
    assert sleeps == [0.25]
    assert len(receiver.received) == 2
    (h1, b1), (h2, b2) = receiver.received
    assert json.loads(b2) == payload and b1 == b2
    assert h1[EVENT_ID_HEADER] == h2[EVENT_ID_HEADER]  # one event, delivered twice
    assert h2["Content-Type"] == "application/json"
    verify(SECRET, b2, h2[SIGNATURE_HEADER], now=time.time())


def test_deliver_does_not_retry_a_client_error(receiver_for: type[_Receiver]) -> None:
    receiver = receiver_for([400])
    assert deliver(receiver.url, {}, SECRET, sleep=lambda s: None) == 400
    assert len(receiver.received) == 1


def test_deliver_returns_the_last_status_when_retries_run_out(
    receiver_for: type[_Receiver],
) -> None:
    receiver = receiver_for([429, 500, 502])
    sleeps: list[float] = []
    assert deliver(receiver.url, {}, SECRET, attempts=3, backoff_s=1, sleep=sleeps.append) == 502
    assert sleeps == [1, 2]
    assert len(receiver.received) == 3


def test_deliver_to_nothing_raises() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(WebhookDeliveryError, match="2 attempt"):
        deliver(f"http://127.0.0.1:{port}/", {}, SECRET, attempts=2, sleep=lambda s: None)


def test_deliver_connects_to_the_checked_address_not_a_new_lookup(
    receiver_for: type[_Receiver],
) -> None:
    """The host is resolved once, when the URL is checked; the POST goes to that address.
    A name that no longer resolves (or now resolves elsewhere) is never looked up again."""
    receiver = receiver_for([200])
    port = urlsplit(receiver.url).port
    unresolvable = f"http://webhook.framerun.invalid:{port}/hook"
    assert deliver(unresolvable, {"a": 1}, SECRET, address="127.0.0.1", sleep=lambda s: None) == 200
    (headers, body) = receiver.received[0]
    assert headers["Host"] == f"webhook.framerun.invalid:{port}" and json.loads(body) == {"a": 1}
    with pytest.raises(WebhookDeliveryError):
        deliver(unresolvable, {}, SECRET, attempts=1, sleep=lambda s: None)


def test_the_webhook_check_returns_the_address_it_checked() -> None:
    assert check_webhook_url("http://127.0.0.1:9/hook", allow_loopback=True) == "127.0.0.1"
