"""The network guard: which URLs a composition page may load.

A composition is untrusted code running next to the service account's
credentials: on Cloud Run, ``http://metadata.google.internal`` hands out the
account's access token to anyone who asks. So the page may load exactly two
kinds of thing, and every refusal is reported (the render fails with
``ASSET_FETCH_FAILED`` naming the URL) rather than silently dropped::

    request                                   decision
    ----------------------------------------  ---------------------------------------
    https://site.framerun.invalid/<path>      the composition folder's file; a missing
                                              file is refused (except /favicon.ico)
    https://fonts.framerun.invalid/<file>     a bundled font face (fontset.py); any
                                              other file there is refused
    data:, blob:, about:                      inline: never reaches the network
    https://<name or IP>                      fetched by framerun, only if *every*
                                              address the name resolves to is public;
                                              redirects followed here, each hop
                                              re-checked (at most MAX_REDIRECTS); an
                                              answer >= 400 or a network error fails
                                              the render too (no silent gaps)
    https:// to the metadata server, a        refused
      loopback, link-local, private, CGNAT,
      unspecified, multicast or reserved
      address (literal, or what DNS answers),
      or to a *.internal, *.local, localhost
      name
    http:                                     refused (plain http; use https)
    file:, ws:, wss:, ftp:, chrome:, …        refused (only https: leaves the site)

The decisions (:func:`classify`, :func:`address_reason`) and the redirect loop
(:func:`guarded_fetch`) do no IO: DNS and HTTP come in through a
:data:`Resolver` and a :data:`Fetcher`, so tests simulate DNS answers and
redirects without a network. :func:`system_resolver` and :func:`HttpsFetcher`
are the real ones; the fetcher connects to the address that was checked, not to
a second lookup, so DNS rebinding cannot swap in a private address.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote, urljoin, urlsplit

SITE_ORIGIN = "https://site.framerun.invalid"
# Where the page finds the bundled font faces (fontset.py serves the files).
FONTS_ORIGIN = "https://fonts.framerun.invalid"
MAX_REDIRECTS = 5
# Names that reach the metadata server (or other machine-local services) on GCP.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.goog"})
METADATA_IPS = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_INLINE_SCHEMES = frozenset({"data", "blob", "about"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
FIX = "compositions may load their own files and public https: URLs only"


class Kind(Enum):
    SITE = "site"  # served from the composition folder
    FONTS = "fonts"  # a bundled font face
    INLINE = "inline"  # data:/blob:/about: — no network
    FETCH = "fetch"  # https: to check by DNS, then fetch
    BLOCK = "block"


@dataclass(frozen=True)
class Decision:
    kind: Kind
    reason: str = ""  # why, when kind is BLOCK


@dataclass(frozen=True)
class Refusal:
    """A request the page made and did not get, and why (the error message's parts)."""

    url: str
    reason: str
    resource_type: str = ""  # the request's resource type ("font", "image", …) if known


class RefusedError(Exception):
    """Raised by :func:`guarded_fetch`; the browser layer turns it into a :class:`Refusal`."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.rstrip(".")


def display_url(url: str) -> str:
    """How a URL is named in messages: a site file by its path in the folder."""
    if url.startswith(SITE_ORIGIN + "/"):
        return unquote(urlsplit(url).path.lstrip("/")) or "index.html"
    return url


def ip_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address may not be reached, or None if it is public unicast."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return ip_reason(embedded)
    if ip in METADATA_IPS:
        return "the cloud metadata server (it hands out the service account's token)"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip.packed[0] == 0):
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a carrier-grade NAT (shared) address"
    if any(ip in net for net in _PRIVATE):
        return "a private address"
    if not ip.is_global:
        return "a reserved address"
    return None


def address_reason(host: str, addresses: Sequence[str]) -> str | None:
    """Why a host whose DNS answer is ``addresses`` may not be reached (None: all public)."""
    if not addresses:
        return f"{host} does not resolve"
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return f"{host} resolves to {text!r}, which is not an IP address"
        reason = ip_reason(ip)
        if reason is not None:
            return f"{host} resolves to {text}, {reason}"
    return None


def classify(url: str) -> Decision:
    """What the guard does with ``url``, from the URL alone (no DNS)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in _INLINE_SCHEMES:
        return Decision(Kind.INLINE)
    if scheme == "https" and f"{scheme}://{parts.netloc.lower()}" == SITE_ORIGIN:
        return Decision(Kind.SITE)
    if scheme == "https" and f"{scheme}://{parts.netloc.lower()}" == FONTS_ORIGIN:
        return Decision(Kind.FONTS)
    if scheme == "file":
        return Decision(
            Kind.BLOCK,
            "file: URLs read the machine's files; put the file in the "
            "composition folder and use a relative URL",
        )
    if scheme in ("http", "https", "ws", "wss"):
        host = _host(url)
        if not host:
            return Decision(Kind.BLOCK, "the URL has no host")
        try:
            reason = ip_reason(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            reason = None
            if host in METADATA_HOSTS:
                reason = "the cloud metadata server (it hands out the service account's token)"
            elif host == "localhost" or host.endswith(".localhost"):
                reason = "a loopback address"
            elif host.endswith((".internal", ".local")):
                reason = "a name that only resolves inside the machine's network"
        if reason is not None:
            return Decision(Kind.BLOCK, reason)
    if scheme == "https":
        return Decision(Kind.FETCH)
    if scheme == "http":
        return Decision(Kind.BLOCK, "plain http: (unencrypted); use the https: URL")
    if scheme in ("ws", "wss"):
        return Decision(
            Kind.BLOCK, "WebSockets are not allowed; frames must not depend on a live connection"
        )
    return Decision(Kind.BLOCK, f"the {scheme or 'empty'}: scheme is not allowed")


# ---- fetching through the seam ------------------------------------------------------


@dataclass(frozen=True)
class FetchRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    address: str  # connect here (the checked address), not to a fresh lookup of the host


@dataclass(frozen=True)
class FetchResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    url: str = ""  # the final URL, after redirects (set by guarded_fetch)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


Resolver = Callable[[str, int], Sequence[str]]
Fetcher = Callable[[FetchRequest], FetchResponse]


def guarded_fetch(
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes | None,
    *,
    resolver: Resolver,
    fetcher: Fetcher,
    max_redirects: int = MAX_REDIRECTS,
) -> FetchResponse:
    """Fetch ``url`` as the page asked, re-checking every redirect hop.

    Raises :class:`RefusedError` naming the hop that was refused (a public URL that
    redirects to the metadata server names the metadata URL).
    """
    for _ in range(max_redirects + 1):
        decision = classify(url)
        if decision.kind is not Kind.FETCH:
            raise RefusedError(url, decision.reason or "a redirect may only go to https: URLs")
        parts = urlsplit(url)
        host = _host(url)
        addresses = list(resolver(host, parts.port or 443))
        reason = address_reason(host, addresses)
        if reason is not None:
            raise RefusedError(url, reason)
        response = fetcher(FetchRequest(method, url, tuple(headers), body, addresses[0]))
        location = response.header("location")
        if response.status not in _REDIRECTS or not location:
            return FetchResponse(response.status, response.headers, response.body, url)
        url = urljoin(url, location)
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            method, body = "GET", None
    raise RefusedError(url, f"more than {max_redirects} redirects")


# ---- the real resolver and fetcher (IO) ---------------------------------------------


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for ``host`` (empty if none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# Headers the fetcher sets itself or that must not cross from the page to a server.
_DROP_REQUEST = frozenset(
    {
        "host",
        "connection",
        "accept-encoding",
        "cookie",
        "content-length",
        "keep-alive",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Hop-by-hop or already undone by http.client (chunking) and the length we re-derive.
_DROP_RESPONSE = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "keep-alive",
        "transfer-encoding",
        "set-cookie",
    }
)


def pinned_connection(
    url: str, address: str | None, *, timeout_s: float, tls: ssl.SSLContext
) -> tuple[http.client.HTTPConnection, str]:
    """A connection for ``url`` that reaches ``address``, and the request path.

    http.client would resolve the host name again, and a second answer may differ
    from the checked one (DNS rebinding); this connects to the checked address
    while TLS still verifies the certificate against the URL's host name. With no
    ``address`` the host is resolved as usual.
    """
    parts = urlsplit(url)
    host = _host(url)
    secure = parts.scheme.lower() == "https"
    port = parts.port or (443 if secure else 80)
    conn = (
        http.client.HTTPSConnection(host, port, timeout=timeout_s, context=tls)
        if secure
        else http.client.HTTPConnection(host, port, timeout=timeout_s)
    )
    if address is not None:
        conn._create_connection = lambda _addr, timeout, source: socket.create_connection(  # type: ignore[attr-defined]
            (address, port), timeout, source
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return conn, path


class HttpsFetcher:
    """One HTTPS request to a pinned address, certificate checked against the host name."""

    def __init__(
        self, *, timeout_s: float, max_bytes: int, tls: ssl.SSLContext | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._tls = tls or ssl.create_default_context()

    def __call__(self, request: FetchRequest) -> FetchResponse:
        conn, path = pinned_connection(
            request.url, request.address, timeout_s=self.timeout_s, tls=self._tls
        )
        headers = {k: v for k, v in request.headers if k.lower() not in _DROP_REQUEST}
        try:
            conn.request(request.method, path, body=request.body, headers=headers)
            response = conn.getresponse()
            body = response.read(self.max_bytes + 1)
            if len(body) > self.max_bytes:
                raise RefusedError(
                    request.url, f"larger than {self.max_bytes} bytes (FRAMERUN_MAX_FETCH_BYTES)"
                )
            kept = tuple(
                (k, v) for k, v in response.getheaders() if k.lower() not in _DROP_RESPONSE
            )
            return FetchResponse(response.status, kept, body)
        except (OSError, http.client.HTTPException) as exc:
            raise RefusedError(request.url, f"could not be fetched ({exc})") from None
        finally:
            conn.close()


# ---- requests the route never sees --------------------------------------------------

# Chrome refuses some requests before interception (file:, chrome:, mixed content,
# fetch() of unsupported schemes) and only says so on the console.
_CONSOLE_URL = re.compile(
    r"Not allowed to load local resource: (?P<a>\S+)"
    r"|Fetch API cannot load (?P<b>\S+)\.\s"
    r"|requested an insecure \S+ '(?P<c>[^']+)'"
    r"|WebSocket connection to '(?P<d>[^']+)' failed"
)


def console_urls(text: str) -> list[str]:
    """URLs that a console message says the browser refused to load."""
    return [next(g for g in m.groups() if g) for m in _CONSOLE_URL.finditer(text)]
