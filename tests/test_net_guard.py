"""The URL guard: every SSRF trick is refused, limits hold, pinned connections stay pinned.

Servers run on 127.0.0.1 only. Where a test needs a name that resolves somewhere, it
replaces socket.getaddrinfo for that one name and passes every other name through.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import certifi
import pytest
import trustme

from common.net import FetchError, fetch_from_hosts, fetch_untrusted, post_untrusted

PUBLIC_IP = "93.184.215.14"
IMAGE = b"\x89PNG fake image bytes" * 10


class Handler(BaseHTTPRequestHandler):
    server: LocalServer

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host", "")))
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        # A client that gives up mid-body (on purpose, in these tests) is not an error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)

    do_POST = do_GET  # webhooks: the body is not read; the route answers as for GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Callable[[Handler], None]] = {}
        self.seen: list[tuple[str, str]] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://{host}:{self.port}{path}"


def send_body(body: bytes, *, length: bool = True) -> Callable[[Handler], None]:
    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        if length:
            h.send_header("Content-Length", str(len(body)))
        else:
            h.close_connection = True  # body ends when the connection closes
        h.end_headers()
        h.wfile.write(body)

    return route


def redirect(location: str | Callable[[], str]) -> Callable[[Handler], None]:
    def route(h: Handler) -> None:
        h.send_response(302)
        h.send_header("Location", location() if callable(location) else location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def drip(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "1000")
    h.end_headers()
    for _ in range(200):
        h.wfile.write(b"x")
        h.wfile.flush()
        time.sleep(0.05)


def huge_declared(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", str(10**12))
    h.end_headers()
    h.wfile.write(b"x" * 100)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.routes["/image.png"] = send_body(IMAGE)
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def allow_local(settings: Any) -> None:
    settings.DARKROOM_FETCH_ALLOW_HOSTS = ["127.0.0.1"]


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Name -> successive answers (the last repeats). Other names resolve for real."""
    answers: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in answers:
            return real(host, port, *args, **kwargs)
        queue = answers[name]
        ips = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, int(port or 0)),
            )
            for ip in ips
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def refused(url: str, code: str = "url_not_allowed", **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch_untrusted(url, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


# --- the happy path ------------------------------------------------------------------


def test_it_fetches_from_an_allowed_local_host(server: LocalServer, allow_local: None) -> None:
    assert fetch_untrusted(server.url("/image.png")) == IMAGE


def test_it_refuses_loopback_unless_the_host_is_allowed(server: LocalServer) -> None:
    refused(server.url("/image.png"))
    assert server.seen == []


# --- addresses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "0x7f000001",
        "2130706433",
        "127.1",
        "0177.0.0.1",
        "0.0.0.0",  # noqa: S104
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::127.0.0.1]",  # IPv4-compatible
        "[2002:7f00:1::]",  # 6to4 around 127.0.0.1
        "[64:ff9b::7f00:1]",  # NAT64 around 127.0.0.1
    ],
)
def test_it_refuses_every_spelling_of_loopback(server: LocalServer, host: str) -> None:
    refused(server.url("/image.png", host=host))
    assert server.seen == []


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "[::ffff:169.254.169.254]",
        "[fd00:ec2::254]",
        "100.100.100.200",
        "168.63.129.16",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.1.1",
        "224.0.0.1",
        "240.0.0.1",
        "[fe80::1]",
        "[fc00::1]",
        "[ff02::1]",
        "[::]",
        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    ],
)
def test_it_refuses_private_reserved_and_metadata_addresses(host: str) -> None:
    refused(f"http://{host}/latest/meta-data/")


def test_it_refuses_a_name_with_any_private_address(fake_dns: dict[str, list[list[str]]]) -> None:
    fake_dns["mixed.example"] = [[PUBLIC_IP, "169.254.169.254"]]
    refused("http://mixed.example/")


def test_it_does_not_say_where_an_internal_name_points(
    fake_dns: dict[str, list[list[str]]],
) -> None:
    fake_dns["intranet.example"] = [["10.1.2.3"]]
    assert "10.1.2.3" not in refused("http://intranet.example/").message


def test_it_connects_to_the_address_it_checked_not_a_later_answer(
    server: LocalServer,
    fake_dns: dict[str, list[list[str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DNS rebinding: the check sees a public address, a second lookup would say loopback.
    fake_dns["rebind.example"] = [[PUBLIC_IP], ["127.0.0.1"]]
    dialled: list[tuple[str, int]] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        dialled.append(address)
        raise ConnectionRefusedError("test network is closed")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    refused(f"http://rebind.example:{server.port}/image.png", code="fetch_failed")
    assert dialled == [(PUBLIC_IP, server.port)]
    assert server.seen == []


def test_it_keeps_the_host_name_when_pinned_to_the_address(
    server: LocalServer, fake_dns: dict[str, list[list[str]]], settings: Any
) -> None:
    settings.DARKROOM_FETCH_ALLOW_HOSTS = ["pinned.example"]
    fake_dns["pinned.example"] = [["127.0.0.1"], ["10.9.9.9"]]
    assert fetch_untrusted(f"http://pinned.example:{server.port}/image.png") == IMAGE
    assert server.seen == [("/image.png", f"pinned.example:{server.port}")]


def test_it_verifies_tls_against_the_host_name_when_pinned(
    fake_dns: dict[str, list[list[str]]],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("pinned.example").configure_cert(server_ctx)
    server_names: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: server_names.append(name)
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    monkeypatch.setattr(certifi, "where", lambda: str(ca_path))

    srv = LocalServer()
    srv.socket = server_ctx.wrap_socket(srv.socket, server_side=True)
    srv.routes["/image.png"] = send_body(IMAGE)
    threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
    try:
        settings.DARKROOM_FETCH_ALLOW_HOSTS = ["pinned.example", "127.0.0.1"]
        fake_dns["pinned.example"] = [["127.0.0.1"]]
        assert fetch_untrusted(srv.url("/image.png", host="pinned.example")) == IMAGE
        assert server_names == ["pinned.example"]
        # The certificate names pinned.example, not the address we connect to.
        refused(srv.url("/image.png"), code="fetch_failed")
    finally:
        srv.shutdown()
        srv.server_close()


# --- URL shapes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "gopher://127.0.0.1:6379/_INFO",
        "dict://127.0.0.1:11211/",
        "data:image/png;base64,AAAA",
        "//example.com/a.png",
        "http:///a.png",
        "not a url",
    ],
)
def test_it_refuses_urls_that_are_not_plain_http(url: str) -> None:
    refused(url)


def test_it_refuses_credentials_in_the_url(server: LocalServer, allow_local: None) -> None:
    refused(f"http://user:secret@127.0.0.1:{server.port}/image.png")
    assert server.seen == []


# --- redirects -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://0x7f000001:{port}/image.png",
        "http://localhost:{port}/image.png",
        "http://[::ffff:127.0.0.1]:{port}/image.png",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1:{port}/image.png",
    ],
)
def test_it_rechecks_every_redirect(server: LocalServer, allow_local: None, location: str) -> None:
    server.routes["/go"] = redirect(location.format(port=server.port))
    refused(server.url("/go"))
    assert [path for path, _ in server.seen] == ["/go"]


def test_it_follows_a_relative_redirect(server: LocalServer, allow_local: None) -> None:
    server.routes["/go"] = redirect("/image.png")
    assert fetch_untrusted(server.url("/go")) == IMAGE


def test_it_stops_after_too_many_redirects(
    server: LocalServer, allow_local: None, settings: Any
) -> None:
    settings.DARKROOM_FETCH_MAX_REDIRECTS = 2
    server.routes["/loop"] = redirect("/loop")
    refused(server.url("/loop"), code="too_many_redirects")
    assert len(server.seen) == 3


def test_it_follows_exactly_the_allowed_number_of_redirects(
    server: LocalServer, allow_local: None, settings: Any
) -> None:
    settings.DARKROOM_FETCH_MAX_REDIRECTS = 2
    server.routes["/a"] = redirect("/b")
    server.routes["/b"] = redirect("/image.png")
    assert fetch_untrusted(server.url("/a")) == IMAGE


# --- limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "no-content-length"])
def test_it_refuses_a_body_over_the_cap(
    server: LocalServer, allow_local: None, length: bool
) -> None:
    server.routes["/big"] = send_body(b"x" * 5000, length=length)
    refused(server.url("/big"), code="too_large", max_bytes=4096)


def test_it_accepts_a_body_exactly_at_the_cap(server: LocalServer, allow_local: None) -> None:
    server.routes["/fit"] = send_body(b"x" * 4096, length=False)
    assert len(fetch_untrusted(server.url("/fit"), max_bytes=4096)) == 4096


def test_it_refuses_a_huge_content_length_before_reading(
    server: LocalServer, allow_local: None
) -> None:
    server.routes["/huge"] = huge_declared
    refused(server.url("/huge"), code="too_large", max_bytes=4096)


def test_it_gives_up_on_a_slow_drip_at_the_total_deadline(
    server: LocalServer, allow_local: None
) -> None:
    # Every byte arrives well inside any per-read timeout; only a total deadline stops it.
    server.routes["/drip"] = drip
    error = refused(server.url("/drip"), code="fetch_timeout", timeout=0.5)
    assert error.retryable


def test_it_refuses_an_error_status(server: LocalServer, allow_local: None) -> None:
    error = refused(server.url("/missing"), code="fetch_failed")
    assert not error.retryable


def test_it_refuses_a_compressed_body_it_did_not_ask_for(
    server: LocalServer, allow_local: None
) -> None:
    def gzipped(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", "3")
        h.end_headers()
        h.wfile.write(b"abc")

    server.routes["/gz"] = gzipped
    refused(server.url("/gz"), code="fetch_failed")


# --- fetch_from_hosts ------------------------------------------------------------------


def fetch_upstream(url: str, hosts: list[str]) -> bytes:
    return fetch_from_hosts(url, allowed_hosts=hosts, max_bytes=1 << 20, timeout=5)


def test_it_fetches_from_a_listed_upstream_host(server: LocalServer) -> None:
    # Loopback is fine here: operators configure the hosts, and no settings are needed.
    assert fetch_upstream(server.url("/image.png"), ["127.0.0.1"]) == IMAGE
    assert fetch_upstream(server.url("/image.png", host="LOCALHOST"), ["localhost"]) == IMAGE


def test_it_refuses_an_upstream_host_not_in_the_list(server: LocalServer) -> None:
    with pytest.raises(FetchError) as info:
        fetch_upstream(server.url("/image.png"), ["cdn.example"])
    assert info.value.code == "url_not_allowed"
    assert server.seen == []


def test_it_refuses_an_upstream_redirect_to_another_host(server: LocalServer) -> None:
    server.routes["/go"] = redirect(server.url("/image.png", host="localhost"))
    with pytest.raises(FetchError) as info:
        fetch_upstream(server.url("/go"), ["127.0.0.1"])
    assert info.value.code == "url_not_allowed"
    assert [path for path, _ in server.seen] == ["/go"]


def test_it_refuses_non_http_upstream_urls() -> None:
    with pytest.raises(FetchError) as info:
        fetch_upstream("file:///etc/passwd", ["localhost", ""])
    assert info.value.code == "url_not_allowed"


def test_it_caps_upstream_bodies(server: LocalServer) -> None:
    server.routes["/big"] = send_body(b"x" * 5000, length=False)
    with pytest.raises(FetchError) as info:
        fetch_from_hosts(server.url("/big"), allowed_hosts=["127.0.0.1"], max_bytes=4096, timeout=5)
    assert info.value.code == "too_large"


class KeepAliveHandler(Handler):
    protocol_version = "HTTP/1.1"  # the connection stays open for the next request

    def do_GET(self) -> None:
        self.server.peers.append(self.client_address[1])  # type: ignore[attr-defined]
        super().do_GET()


@pytest.fixture
def keep_alive_server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.RequestHandlerClass = KeepAliveHandler
    srv.peers = []  # type: ignore[attr-defined]
    srv.routes["/image.png"] = send_body(IMAGE)
    threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_result_downloads_reuse_one_connection(keep_alive_server: LocalServer) -> None:
    url = keep_alive_server.url("/image.png")
    assert [fetch_upstream(url, ["127.0.0.1"]) for _ in range(3)] == [IMAGE] * 3
    assert len(set(keep_alive_server.peers)) == 1  # type: ignore[attr-defined]


def test_pinned_fetches_never_reuse_a_connection(
    keep_alive_server: LocalServer, fake_dns: dict[str, list[list[str]]], settings: Any
) -> None:
    # A pool keyed by the address could hand a.example's connection to b.example.
    settings.DARKROOM_FETCH_ALLOW_HOSTS = ["a.example", "b.example"]
    fake_dns["a.example"] = fake_dns["b.example"] = [["127.0.0.1"]]
    for host in ("a.example", "b.example", "a.example"):
        assert fetch_untrusted(keep_alive_server.url("/image.png", host=host)) == IMAGE
    assert len(set(keep_alive_server.peers)) == 3  # type: ignore[attr-defined]
    hosts = [host.split(":")[0] for _, host in keep_alive_server.seen]
    assert hosts == ["a.example", "b.example", "a.example"]


# --- posting (webhooks) ----------------------------------------------------------------


def test_a_post_goes_through_the_same_address_checks(server: LocalServer) -> None:
    with pytest.raises(FetchError) as info:
        post_untrusted(server.url("/hook"), content=b"{}", headers={})
    assert info.value.code == "url_not_allowed"
    assert server.seen == []


def test_a_post_to_an_allowed_host_returns_the_status_and_follows_no_redirect(
    server: LocalServer, allow_local: None
) -> None:
    server.routes["/hook"] = send_body(b"")
    server.routes["/moved"] = redirect("http://169.254.169.254/")
    assert post_untrusted(server.url("/hook"), content=b"{}", headers={"X-A": "1"}) == 200
    assert post_untrusted(server.url("/moved"), content=b"{}", headers={}) == 302
    assert [path for path, _ in server.seen] == ["/hook", "/moved"]
