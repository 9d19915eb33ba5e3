"""HTTP calls, OIDC tokens, transport errors and try/retry/except, against a local server."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from framerun.local.workflows import ExecutionCancelled, ExecutionContext
from tests.workflow.wf_harness import FakeServer, Request, SleepRecorder, fail, run


def ok(request: Request) -> tuple[int, object]:
    return 200, {"echo": request.body, "path": request.path}


def test_post_sends_json_and_parses_the_json_answer() -> None:
    with FakeServer(lambda r: (200, {"got": r.body}, {"X-Custom": "v"})) as server:
        result = run(
            """
            main:
              params: [args]
              steps:
                - send:
                    call: http.post
                    args:
                      url: ${args.url + "/things"}
                      body:
                        n: 1
                        list: [true, null]
                    result: r
                - done:
                    return: ${r}
            """,
            {"url": server.url},
        )
    assert result["code"] == 200
    assert result["body"] == {"got": {"n": 1, "list": [True, None]}}
    assert result["headers"]["x-custom"] == "v"  # lowercased names
    assert result["headers"]["content-type"] == "application/json"
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/things")
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert "GoogleCloudWorkflows" in request.headers["user-agent"]


def test_get_with_query_and_a_text_answer() -> None:
    with FakeServer(lambda r: (200, "plain " + r.path)) as server:
        result = run(
            """
            main:
              params: [args]
              steps:
                - fetch:
                    call: http.get
                    args:
                      url: ${args.url + "/p"}
                      query:
                        a: 1
                        b: [x, y]
                      headers:
                        X-Trace: abc
                    result: r
                - done:
                    return: ${r.body}
            """,
            {"url": server.url},
        )
        assert server.requests[0].headers["x-trace"] == "abc"
    assert result == "plain /p?a=1&b=x&b=y"


def test_oidc_auth_adds_a_bearer_token_for_the_audience() -> None:
    audiences: list[str] = []

    def provider(audience: str) -> str:
        audiences.append(audience)
        return f"token-for-{audience}"

    with FakeServer(ok) as server:
        run(
            """
            main:
              params: [args]
              steps:
                - withAudience:
                    call: http.post
                    args:
                      url: ${args.url}
                      auth:
                        type: OIDC
                        audience: https://svc.example
                - defaultAudience:
                    call: http.get
                    args:
                      url: ${args.url + "/x?q=1"}
                      auth:
                        type: OIDC
            """,
            {"url": server.url},
            token_provider=provider,
        )
        sent = [r.headers["authorization"] for r in server.requests]
    assert audiences == ["https://svc.example", f"{server.url}/x"]
    assert sent == ["Bearer token-for-https://svc.example", f"Bearer token-for-{server.url}/x"]


def test_token_failure_is_an_auth_error() -> None:
    def broken(audience: str) -> str:
        raise RuntimeError("issuer down")

    payload = fail(
        """
        main:
          steps:
            - send:
                call: http.get
                args:
                  url: http://127.0.0.1:9/
                  auth: {type: OIDC}
        """,
        token_provider=broken,
    )
    assert payload["tags"] == ["AuthError"]
    assert "issuer down" in payload["message"]


def test_non_2xx_raises_http_error_with_the_body() -> None:
    error = {"error": {"code": "BAD", "message": "no", "retryable": False}}
    with FakeServer(lambda r: (400, error)) as server:
        payload = fail(
            """
            main:
              params: [args]
              steps:
                - send:
                    call: http.post
                    args:
                      url: ${args.url}
                      body: {}
            """,
            {"url": server.url},
        )
    assert payload["tags"] == ["HttpError"]
    assert payload["code"] == 400
    assert payload["body"] == error
    assert payload["headers"]["content-type"] == "application/json"
    assert "400" in payload["message"]


def test_connection_refused_is_a_connection_failed_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed on exit: nothing listens there
    payload = fail(
        f"""
        main:
          steps:
            - send:
                call: http.get
                args:
                  url: http://127.0.0.1:{port}/
        """
    )
    assert payload["tags"] == ["ConnectionFailedError"]


def test_slow_answer_is_a_timeout_error() -> None:
    with FakeServer(ok, delay_s=1.0) as server:
        started = time.monotonic()
        payload = fail(
            """
            main:
              params: [args]
              steps:
                - send:
                    call: http.get
                    args:
                      url: ${args.url}
                      timeout: 0.2
            """,
            {"url": server.url},
        )
    assert payload["tags"] == ["TimeoutError"]
    assert time.monotonic() - started < 0.9


def test_timeout_above_1800_seconds_is_a_value_error() -> None:
    payload = fail(
        """
        main:
          steps:
            - send:
                call: http.get
                args:
                  url: http://127.0.0.1:9/
                  timeout: 1801
        """
    )
    assert payload["tags"] == ["ValueError"]
    assert "1800" in payload["message"]


def test_cancel_aborts_an_http_wait_promptly() -> None:
    context = ExecutionContext()
    with FakeServer(ok, delay_s=5.0) as server:
        threading.Timer(0.2, context.cancel).start()
        started = time.monotonic()
        with pytest.raises(ExecutionCancelled):
            run(
                """
                main:
                  params: [args]
                  steps:
                    - send:
                        call: http.get
                        args:
                          url: ${args.url}
                """,
                {"url": server.url},
                cancel_event=context.cancel_event,
            )
        assert time.monotonic() - started < 1.5


# -- retry -----------------------------------------------------------------------------

RETRY_WHOLE_TRY = """
main:
  params: [args]
  steps:
    - both:
        try:
          steps:
            - first:
                call: http.get
                args:
                  url: ${args.url + "/a"}
            - second:
                call: http.get
                args:
                  url: ${args.url + "/b"}
                result: r
        retry:
          predicate: ${always}
          max_retries: 5
          backoff:
            initial_delay: 0.5
            max_delay: 1
            multiplier: 3
    - done:
        return: ${r.body.path}
always:
  params: [e]
  steps:
    - yes:
        return: true
"""


def test_retry_reruns_the_whole_try_block_with_backoff() -> None:
    failures = {"left": 2}

    def handler(request: Request) -> tuple[int, object]:
        if request.path == "/b" and failures["left"]:
            failures["left"] -= 1
            return 503, {"error": "busy"}
        return ok(request)

    sleep = SleepRecorder()
    with FakeServer(handler) as server:
        result = run(RETRY_WHOLE_TRY, {"url": server.url}, sleep=sleep)
    assert result == "/b"
    assert [r.path for r in server.requests] == ["/a", "/b", "/a", "/b", "/a", "/b"]
    assert sleep.delays == [0.5, 1.0]  # 0.5, then 0.5 * 3 capped at max_delay 1


def test_retries_stop_after_max_retries() -> None:
    sleep = SleepRecorder()
    source = RETRY_WHOLE_TRY.replace("max_retries: 5", "max_retries: 2")
    with FakeServer(lambda r: (503, "busy")) as server:
        payload = fail(source, {"url": server.url}, sleep=sleep)
    assert payload["code"] == 503
    assert len(server.requests) == 3  # one attempt, two retries, each stopping at /a
    assert len(sleep.delays) == 2


def test_a_false_predicate_stops_retrying_and_except_runs() -> None:
    sleep = SleepRecorder()
    with FakeServer(lambda r: (500, {"why": "broken"})) as server:
        result = run(
            """
            main:
              params: [args]
              steps:
                - send:
                    try:
                      call: http.get
                      args:
                        url: ${args.url}
                    retry:
                      predicate: ${only_503}
                      max_retries: 5
                      backoff: {initial_delay: 1, max_delay: 10, multiplier: 2}
                    except:
                      as: e
                      steps:
                        - handled:
                            return: ${[e.code, e.body.why, e.tags]}
            only_503:
              params: [e]
              steps:
                - check:
                    return: ${"HttpError" in e.tags and e.code == 503}
            """,
            {"url": server.url},
            sleep=sleep,
        )
    assert result == [500, "broken", ["HttpError"]]
    assert len(server.requests) == 1
    assert sleep.delays == []


DEFAULT_RETRY = """
main:
  params: [args]
  steps:
    - send:
        try:
          call: http.get
          args:
            url: ${args.url}
        retry: ${http.default_retry}
"""


@pytest.mark.parametrize(("status", "attempts"), [(500, 1), (404, 1), (503, 6), (429, 6)])
def test_http_default_retry(status: int, attempts: int) -> None:
    sleep = SleepRecorder()
    with FakeServer(lambda r: (status, "no")) as server:
        payload = fail(DEFAULT_RETRY, {"url": server.url}, sleep=sleep)
    assert payload["code"] == status
    assert len(server.requests) == attempts
    expected = [min(1 * 1.25**n, 60) for n in range(attempts - 1)]
    assert sleep.delays == pytest.approx(expected)


def test_http_default_retry_retries_connection_failures() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleep = SleepRecorder()
    payload = fail(DEFAULT_RETRY, {"url": f"http://127.0.0.1:{port}/"}, sleep=sleep)
    assert payload["tags"] == ["ConnectionFailedError"]
    assert len(sleep.delays) == 5


def test_a_custom_retry_may_use_the_built_in_predicate() -> None:
    sleep = SleepRecorder()
    source = DEFAULT_RETRY.replace(
        "retry: ${http.default_retry}",
        "retry:\n          predicate: ${http.default_retry_predicate}\n          max_retries: 2",
    )
    with FakeServer(lambda r: (503, "busy")) as server:
        payload = fail(source, {"url": server.url}, sleep=sleep)
    assert payload["code"] == 503
    assert len(server.requests) == 3
    assert sleep.delays == pytest.approx([1, 1.25])  # retry.default_backoff
