"""The network guard's decisions, without a browser or a network (netguard.py is IO-free
but for its real resolver and fetcher, which these tests replace with fakes)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from framerun_service.render.netguard import (
    SITE_ORIGIN,
    FetchRequest,
    FetchResponse,
    Kind,
    RefusedError,
    address_reason,
    classify,
    console_urls,
    display_url,
    guarded_fetch,
)
from framerun_service.render.site import RangeNotSatisfiableError, byte_range

METADATA_TOKEN = "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (METADATA_TOKEN, "metadata server"),
        ("https://169.254.169.254/x", "metadata server"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata server"),
        ("https://metadata.google.internal./computeMetadata/v1/", "metadata server"),
        ("https://METADATA/computeMetadata/v1/", "metadata server"),
        ("https://[fd00:ec2::254]/", "metadata server"),
        ("https://169.254.1.1/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://127.0.0.1:8080/", "loopback"),
        ("https://127.8.9.10/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://localhost/", "loopback"),
        ("https://app.localhost/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
        ("https://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
        ("https://[2002:a00:1::]/", "private"),  # 6to4 of 10.0.0.1
        ("https://10.0.0.1/", "private"),
        ("https://172.16.5.4/", "private"),
        ("https://172.31.255.255/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://[fc00::1]/", "private"),
        ("https://[fd12:3456::1]/", "private"),
        ("https://100.64.0.1/", "carrier-grade NAT"),
        ("https://100.127.255.254/", "carrier-grade NAT"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://0.1.2.3/", "unspecified"),
        ("https://[::]/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://192.0.2.1/", "reserved"),
        ("https://host.internal/", "inside the machine's network"),
        ("http://example.com/font.woff2", "plain http"),
        ("file:///etc/passwd", "file:"),
        ("FILE:///etc/passwd", "file:"),
        ("ws://example.com/socket", "WebSockets"),
        ("wss://example.com/socket", "WebSockets"),
        ("ws://127.0.0.1:9000/", "loopback"),
        ("ftp://example.com/a.png", "ftp: scheme"),
        ("chrome://version/", "chrome: scheme"),
        ("https:///no-host", "no host"),
    ],
)
def test_blocked_urls_and_why(url: str, reason: str) -> None:
    decision = classify(url)
    assert decision.kind is Kind.BLOCK
    assert reason in decision.reason


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (f"{SITE_ORIGIN}/index.html", Kind.SITE),
        (f"{SITE_ORIGIN}/fonts/a b.woff2?v=1", Kind.SITE),
        ("HTTPS://SITE.FRAMERUN.INVALID/x", Kind.SITE),
        ("data:image/gif;base64,R0lGOD", Kind.INLINE),
        ("blob:https://site.framerun.invalid/1234", Kind.INLINE),
        ("about:blank", Kind.INLINE),
        ("https://fonts.gstatic.com/s/inter.woff2", Kind.FETCH),
        ("https://8.8.8.8/x", Kind.FETCH),
        ("https://[2606:4700::1111]/x", Kind.FETCH),
        ("https://100.128.0.1/", Kind.FETCH),  # just outside 100.64/10
        ("https://172.32.0.1/", Kind.FETCH),  # just outside 172.16/12
        ("https://site.framerun.invalid:8443/x", Kind.FETCH),  # not the site origin
    ],
)
def test_allowed_urls(url: str, kind: Kind) -> None:
    assert classify(url).kind is kind


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (["127.0.0.1"], "resolves to 127.0.0.1, a loopback address"),
        (["93.184.216.34", "10.1.2.3"], "resolves to 10.1.2.3, a private address"),  # any
        (["169.254.169.254"], "metadata server"),
        (["fe80::1%eth0"], "link-local"),
        ([], "does not resolve"),
        (["not-an-ip"], "not an IP address"),
    ],
)
def test_dns_answers_with_any_non_public_address_are_refused(
    answer: list[str], reason: str
) -> None:
    got = address_reason("cdn.example.com", answer)
    assert got is not None
    assert reason in got


def test_public_dns_answers_pass() -> None:
    assert address_reason("cdn.example.com", ["93.184.216.34", "2606:2800:220:1::1"]) is None


class FakeNet:
    """DNS answers and HTTP responses by URL; records what was fetched."""

    def __init__(self, dns: dict[str, list[str]], responses: dict[str, FetchResponse]) -> None:
        self.dns = dns
        self.responses = responses
        self.fetched: list[FetchRequest] = []

    def resolve(self, host: str, port: int) -> Sequence[str]:
        # Like getaddrinfo: an IP literal "resolves" to itself.
        return self.dns.get(host, [host] if host[:1].isdigit() or ":" in host else [])

    def fetch(self, request: FetchRequest) -> FetchResponse:
        self.fetched.append(request)
        return self.responses[request.url]


def _redirect(to: str, status: int = 302) -> FetchResponse:
    return FetchResponse(status, (("Location", to),), b"")


def _fetch(net: FakeNet, url: str, method: str = "GET") -> FetchResponse:
    return guarded_fetch(
        method, url, [("accept", "*/*")], None, resolver=net.resolve, fetcher=net.fetch
    )


def test_fetch_connects_to_the_checked_address() -> None:
    net = FakeNet(
        {"cdn.example.com": ["93.184.216.34"]},
        {"https://cdn.example.com/a.png": FetchResponse(200, (), b"png")},
    )
    response = _fetch(net, "https://cdn.example.com/a.png")
    assert (response.status, response.body) == (200, b"png")
    assert [r.address for r in net.fetched] == ["93.184.216.34"]


def test_a_name_resolving_to_loopback_is_refused_before_any_fetch() -> None:
    net = FakeNet({"evil.example.com": ["127.0.0.1"]}, {})
    with pytest.raises(RefusedError, match=r"resolves to 127\.0\.0\.1") as info:
        _fetch(net, "https://evil.example.com/x")
    assert info.value.url == "https://evil.example.com/x"
    assert net.fetched == []


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (METADATA_TOKEN, "metadata server"),
        ("https://metadata.google.internal/computeMetadata/v1/", "metadata server"),
        ("https://rebind.example.com/token", "resolves to 169.254.169.254"),
        ("file:///etc/passwd", "file:"),
        ("http://cdn.example.com/b.png", "plain http"),  # a downgrade
    ],
)
def test_every_redirect_hop_is_checked(target: str, reason: str) -> None:
    net = FakeNet(
        {"cdn.example.com": ["93.184.216.34"], "rebind.example.com": ["169.254.169.254"]},
        {"https://cdn.example.com/a.png": _redirect(target)},
    )
    with pytest.raises(RefusedError) as info:
        _fetch(net, "https://cdn.example.com/a.png")
    assert info.value.url == target
    assert reason in info.value.reason
    assert [r.url for r in net.fetched] == ["https://cdn.example.com/a.png"]


def test_relative_redirects_are_followed_and_303_becomes_get() -> None:
    net = FakeNet(
        {"cdn.example.com": ["93.184.216.34"]},
        {
            "https://cdn.example.com/a": _redirect("/b", 303),
            "https://cdn.example.com/b": FetchResponse(200, (), b"ok"),
        },
    )
    response = _fetch(net, "https://cdn.example.com/a", method="POST")
    assert response.url == "https://cdn.example.com/b"
    assert [r.method for r in net.fetched] == ["POST", "GET"]


def test_redirect_loops_end() -> None:
    net = FakeNet(
        {"cdn.example.com": ["93.184.216.34"]},
        {"https://cdn.example.com/a": _redirect("https://cdn.example.com/a")},
    )
    with pytest.raises(RefusedError, match="more than 5 redirects"):
        _fetch(net, "https://cdn.example.com/a")
    assert len(net.fetched) == 6


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("Not allowed to load local resource: file:///etc/passwd", ["file:///etc/passwd"]),
        (
            'Fetch API cannot load file:///etc/passwd. URL scheme "file" is not supported.',
            ["file:///etc/passwd"],
        ),
        (
            "Mixed Content: The page at 'https://site.framerun.invalid/index.html' was loaded "
            "over HTTPS, but requested an insecure resource 'http://metadata.google.internal/x'."
            " This request has been blocked; the content must be served over HTTPS.",
            ["http://metadata.google.internal/x"],
        ),
        (
            "WebSocket connection to 'ws://127.0.0.1:1/' failed: Error in connection",
            ["ws://127.0.0.1:1/"],
        ),
        ("hello from the composition", []),
    ],
)
def test_console_messages_name_the_urls_chrome_refused(text: str, urls: list[str]) -> None:
    assert console_urls(text) == urls


def test_site_urls_are_named_by_their_path() -> None:
    assert display_url(f"{SITE_ORIGIN}/fonts/My%20Font.woff2") == "fonts/My Font.woff2"
    assert display_url("https://cdn.example.com/a") == "https://cdn.example.com/a"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 99)),
        ("bytes=10-19", (10, 19)),
        ("bytes=90-500", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=0-1,5-6", None),  # multi-range: whole file
        ("bytes=5-2", None),  # invalid: ignored
        ("items=0-5", None),
        ("bytes=-", None),
    ],
)
def test_byte_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0"])
def test_unsatisfiable_byte_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError):
        byte_range(header, 100)
