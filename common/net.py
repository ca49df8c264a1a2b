"""One guard for every URL Darkroom fetches.

`fetch_untrusted` is for URLs a user gave us (reference images). It refuses anything
that is not plain http(s) to a publicly routable address, and pins each connection to
the address it checked, so a second DNS answer cannot point it somewhere else.

`fetch_from_hosts` is for result images from upstream channels. Operators configure the
channels, and the simulator runs on loopback, so the only protection there is the
list of allowed hosts.

Both follow redirects themselves, re-checking every hop. Result downloads share one
pooled client per process (their URLs keep the host name, so a pooled connection only
ever serves that name); fetches pinned to an address get a fresh client per hop, since
a pool keyed by the address could hand one name's connection to another. Both reuse
one TLS context: building one costs ~38 ms of CPU (27 % of a busy worker's).

Both stop reading once the body is larger than the cap, and both give up when the total
time runs out, however slowly the server sends.
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import certifi
import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services. Most already fail the checks below (link-local, ULA, shared
# space) but we name them so that a change to `ipaddress` can't let them through.
# Azure's 168.63.129.16 is a public address that can only be reached from inside Azure,
# so only this list stops it.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure wire server
    )
)
# 100.64.0.0/10 is carrier-grade NAT space. `is_global` is already False for it; the
# explicit check gives a clearer reason in the logs.
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
# NAT64 prefixes carry an IPv4 address in their last 32 bits, and Python counts
# 64:ff9b::/96 as global.
_NAT64_NETWORKS = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


class FetchError(Exception):
    """A fetch we refused or could not finish.

    code: "url_not_allowed" (scheme, host or address refused), "fetch_failed" (network
    or HTTP error), "too_large", "fetch_timeout", "too_many_redirects".
    `retryable` says whether the same fetch might work later.
    """

    def __init__(self, message: str, *, code: str, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True)
class _Target:
    """One way to send one hop: the URL to connect to, plus extra headers and extensions."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def fetch_untrusted(
    url: str, *, max_bytes: int | None = None, timeout: float | None = None
) -> bytes:
    """Fetch a URL a user gave us. Limits default to the DARKROOM_* settings."""
    return _fetch(
        url,
        plan=_pinned_targets,
        max_bytes=settings.DARKROOM_MAX_IMAGE_BYTES if max_bytes is None else max_bytes,
        timeout=settings.DARKROOM_FETCH_TIMEOUT if timeout is None else timeout,
    )


def post_untrusted(
    url: str, *, content: bytes, headers: dict[str, str], timeout: float | None = None
) -> int:
    """POST to a URL a user gave us (webhooks): the same address checks and pinning as
    fetch_untrusted; redirects are not followed. Returns the receiver's status code."""
    seconds = settings.DARKROOM_FETCH_TIMEOUT if timeout is None else timeout
    targets = _pinned_targets(_parse(url))
    with _send(
        targets, time.monotonic() + seconds, method="POST", content=content, headers=headers
    ) as response:
        return response.status_code


def check_untrusted_url(url: str) -> None:
    """Refuse now, with FetchError("url_not_allowed"), a URL that fetch_untrusted and
    post_untrusted would refuse later: its scheme, its host, or an address it resolves to.

    For URLs kept to be used later (webhooks). A name that does not resolve at the
    moment passes: it may be a passing DNS failure, and every use checks again.
    """
    try:
        _pinned_targets(_parse(url))
    except FetchError as exc:
        if exc.code == "url_not_allowed":
            raise


def fetch_from_hosts(
    url: str, *, allowed_hosts: Collection[str], max_bytes: int, timeout: float
) -> bytes:
    """Fetch from an upstream host. Every hop's host must be in `allowed_hosts`.

    Host names match exactly, ignoring case and port. There is no address check here.
    """
    allowed = {h.lower() for h in allowed_hosts}

    def plan(hop: httpx.URL) -> list[_Target]:
        if not {hop.host.lower(), _ascii_host(hop)} & allowed:
            raise FetchError(f"host {hop.host!r} is not allowed", code="url_not_allowed")
        return [_Target(url=hop, headers={"Accept-Encoding": "identity"})]

    return _fetch(url, plan=plan, max_bytes=max_bytes, timeout=timeout, pooled=True)


def address_refusal(ip: IPAddress) -> str | None:
    """Why we refuse to connect to `ip`, or None if it is a public address."""
    if ip in _METADATA_ADDRESSES:
        return "cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        for embedded in _embedded_ipv4(ip):
            reason = address_refusal(embedded)
            if reason:
                return f"{reason} inside an IPv6 address"
    if ip in _SHARED_ADDRESS_SPACE:
        return "shared (carrier-grade NAT) address"
    flags = (
        ("loopback", ip.is_loopback),
        ("private", ip.is_private),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
    )
    for name, hit in flags:
        if hit:
            return f"{name} address"
    if not ip.is_global:
        return "address that is not publicly routable"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address can carry to an IPv4 host."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks) and NAT64.
    if int(ip) >> 32 == 0 or any(ip in net for net in _NAT64_NETWORKS):
        found.append(low32)
    return found


def _fetch(
    url: str,
    *,
    plan: Callable[[httpx.URL], list[_Target]],
    max_bytes: int,
    timeout: float,
    pooled: bool = False,
) -> bytes:
    deadline = time.monotonic() + timeout
    hop = _parse(url)
    for _ in range(settings.DARKROOM_FETCH_MAX_REDIRECTS + 1):
        targets = plan(hop)
        with _send(targets, deadline, pooled=pooled) as response:
            if response.is_redirect:
                hop = _next_hop(hop, response.headers["location"])
                continue
            _check_status(response)
            return _read_capped(response, max_bytes=max_bytes, deadline=deadline)
    raise FetchError(
        f"more than {settings.DARKROOM_FETCH_MAX_REDIRECTS} redirects",
        code="too_many_redirects",
    )


def _next_hop(hop: httpx.URL, location: str) -> httpx.URL:
    try:
        target = hop.join(location)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(f"redirect to an invalid URL: {exc}", code="url_not_allowed") from exc
    return _parse(str(target))


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(f"not a valid URL: {exc}", code="url_not_allowed") from exc
    _check_shape(parsed)
    return parsed


def _check_shape(url: httpx.URL) -> None:
    if url.scheme not in ("http", "https"):
        raise FetchError("only http and https URLs can be fetched", code="url_not_allowed")
    if not url.host:
        raise FetchError("the URL has no host", code="url_not_allowed")
    if url.userinfo:
        raise FetchError("URLs with credentials are not allowed", code="url_not_allowed")


def _ascii_host(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii").lower()


def _pinned_targets(hop: httpx.URL) -> list[_Target]:
    """Resolve and check the hop's host; one target per address, each pinned to it.

    We connect to the IP itself and keep the name in the Host header and, for https, in
    the TLS server name. The certificate is then still verified against the name.
    """
    host = _ascii_host(hop)
    allowed = host in {h.lower() for h in settings.DARKROOM_FETCH_ALLOW_HOSTS}
    if not allowed:
        literal = _ip_literal(host)
        if literal is not None:
            _refuse_if_blocked(host, literal)
    addresses = _resolve(host, hop.port or (443 if hop.scheme == "https" else 80))
    if not allowed:
        for ip in addresses:
            _refuse_if_blocked(host, ip)
    headers = {"Host": hop.netloc.decode("ascii"), "Accept-Encoding": "identity"}
    extensions = {"sni_hostname": host} if hop.scheme == "https" else {}
    return [
        _Target(url=hop.copy_with(host=str(ip)), headers=headers, extensions=extensions)
        for ip in addresses
    ]


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.replace("%25", "%"))
    except ValueError:
        return None


def _refuse_if_blocked(host: str, ip: IPAddress) -> None:
    reason = address_refusal(ip)
    if reason:
        # The address stays in our logs, not in the message: telling a caller what an
        # internal name resolves to would help them map the network.
        logger.info("refused fetch to %s: %s %s", host, reason, ip)
        raise FetchError(
            f"host {host!r} is not allowed: it resolves to a non-public address",
            code="url_not_allowed",
        )


def _resolve(host: str, port: int) -> list[IPAddress]:
    # getaddrinfo accepts forms `ipaddress` does not (0x7f000001, 2130706433, 127.1,
    # 0177.0.0.1), so we always check what it returns, never the text we were given.
    # It cannot be given a timeout; the system resolver's own timeouts bound it.
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        retryable = getattr(exc, "errno", None) == socket.EAI_AGAIN
        raise FetchError(
            f"could not resolve host {host!r}", code="fetch_failed", retryable=retryable
        ) from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]))
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchError(f"could not resolve host {host!r}", code="fetch_failed")
    return addresses


@contextmanager
def _send(
    targets: list[_Target],
    deadline: float,
    *,
    method: str = "GET",
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    pooled: bool = False,
) -> Iterator[httpx.Response]:
    """Send to the first target that accepts a connection; yield the streaming response."""
    last_error: httpx.HTTPError | None = None
    for target in targets:
        with _client(pooled) as client:
            request = client.build_request(
                method,
                target.url,
                headers={**target.headers, **(headers or {})},
                content=content,
                extensions=target.extensions,
                timeout=_remaining(deadline),
            )
            try:
                response = client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last_error = exc
                continue
            except httpx.HTTPError as exc:
                raise _transport_error(exc) from exc
            try:
                yield response
            except httpx.HTTPError as exc:
                raise _transport_error(exc) from exc
            finally:
                response.close()
            return
    assert last_error is not None
    raise _transport_error(last_error) from last_error


@contextmanager
def _client(pooled: bool) -> Iterator[httpx.Client]:
    if pooled:
        yield _pooled_client()
        return
    # A fresh client per hop: a pooled connection must never be reused for another
    # host name, since the pool only knows the IP.
    with httpx.Client(**_client_options()) as client:
        yield client


_pool_lock = threading.Lock()
_pool: tuple[int, httpx.Client] | None = None


def _pooled_client() -> httpx.Client:
    """This process's client for result downloads (a forked child makes its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=32)
            _pool = (os.getpid(), httpx.Client(limits=limits, **_client_options()))
            atexit.register(_pool[1].close)
        return _pool[1]


def _client_options() -> dict[str, Any]:
    return {
        "trust_env": False,  # an environment proxy would resolve the name again itself
        "follow_redirects": False,
        "verify": tls_context(),
    }


def tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's bundle), built once: an SSLContext is
    thread-safe, and building one costs ~38 ms of CPU."""
    return _tls_context(certifi.where())


@functools.lru_cache(maxsize=4)
def _tls_context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("the fetch took too long", code="fetch_timeout", retryable=True)
    return left


def _transport_error(exc: httpx.HTTPError) -> FetchError:
    if isinstance(exc, httpx.TimeoutException):
        return FetchError("the fetch took too long", code="fetch_timeout", retryable=True)
    return FetchError(f"the fetch failed: {exc}", code="fetch_failed", retryable=True)


def _check_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    status = response.status_code
    raise FetchError(
        f"the server answered HTTP {status}",
        code="fetch_failed",
        retryable=status >= 500 or status in (408, 429),
    )


def _read_capped(response: httpx.Response, *, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    # We asked for identity. Decoding a compressed body we did not ask for could turn a
    # small read into a huge one before the size check sees it.
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError(
            f"the server sent a {encoding}-encoded body; only uncompressed bodies are accepted",
            code="fetch_failed",
        )
    body = bytearray()
    # Each read is bounded by the time left when the hop started; checking the clock
    # after every chunk stops a server that drips bytes to keep the connection alive.
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
        _remaining(deadline)
    return bytes(body)


def _too_large(max_bytes: int) -> FetchError:
    return FetchError(f"the response is larger than {max_bytes} bytes", code="too_large")
