"""The webhook URL guard: the service must never be pointed at its own network."""

from __future__ import annotations

import pytest

from framerun_service.core.errors import InvalidConfigError
from framerun_service.notify import check_webhook_url


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/computeMetadata/v1/",  # the metadata server
        "https://169.254.169.254/x",
        "https://10.0.0.8/hook",
        "https://192.168.1.2/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "http://example.com/hook",  # plain http
        "https:///nohost",
    ],
)
def test_internal_or_plain_http_webhooks_are_refused(url: str) -> None:
    with pytest.raises(InvalidConfigError):
        check_webhook_url(url, allow_loopback=False)


def test_loopback_is_allowed_only_when_the_local_stack_says_so() -> None:
    check_webhook_url("http://127.0.0.1:8000/hook", allow_loopback=True)
    with pytest.raises(InvalidConfigError):
        check_webhook_url("http://127.0.0.1:8000/hook", allow_loopback=False)
    with pytest.raises(InvalidConfigError):
        check_webhook_url("http://169.254.169.254/", allow_loopback=True)
