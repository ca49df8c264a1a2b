"""HTTP transport: the request handler, the threaded HTTP server and body parsing.

`SimHandler` reads a request off the socket, turns it into a `SimRequest`
(`parse_body` / `parse_multipart`) and hands it to `Simulator.handle`;
`SimHTTPServer` accepts connections and tracks them so a stop can cut hung ones.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import logging
import select
import socket
import socketserver
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from simulator.core import Response, SimRequest, UploadedFile, plain_error

if TYPE_CHECKING:
    from simulator.server import Simulator

logger = logging.getLogger("simulator")

MAX_BODY_BYTES = 64 * 1024 * 1024


def parse_body(req: SimRequest) -> None:
    """Fill `json` / `form` / `files` from the body, by content type."""
    content_type = req.header("Content-Type").lower()
    if not req.body:
        return
    if content_type.startswith("multipart/form-data"):
        req.form, req.files = parse_multipart(req.header("Content-Type"), req.body)
    elif content_type.startswith("application/x-www-form-urlencoded"):
        req.form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
    else:
        try:
            req.json = json.loads(req.body)
        except ValueError as exc:
            req.json_error = f"invalid JSON: {exc}"


def parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, list[str]], list[UploadedFile]]:
    # The stdlib email parser reads multipart/form-data well (cgi is deprecated).
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    form: dict[str, list[str]] = {}
    files: list[UploadedFile] = []
    if not message.is_multipart():
        return form, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            form.setdefault(str(name), []).append(payload.decode("utf-8", "replace"))
        else:
            ctype = part.get_content_type()
            files.append(UploadedFile(str(name), filename, ctype, payload))
    return form, files


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: pooled clients reuse connections
    server_version = "DarkroomSimulator/1.0"
    sys_version = ""
    # An idle keep-alive connection gives its thread back after this long.
    timeout = 120
    server: SimHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # access lines go through `logging` in _dispatch instead

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        req = self._request(body)
        started = time.monotonic()
        response = self.server.sim.handle(req, self._wait)
        self._send(response)
        logger.info(
            "%s %s -> %s (%.0f ms)",
            self.command,
            req.path,
            "dropped" if response.drop else response.status,
            (time.monotonic() - started) * 1000,
        )

    def _request(self, body: bytes) -> SimRequest:
        parts = urlsplit(self.path)
        host = self.headers.get("Host") or f"{self.server.url_host}:{self.server.server_port}"
        req = SimRequest(
            method=self.command,  # HEAD is routed like GET, answered without a body
            path=parts.path,
            query=parse_qs(parts.query),
            headers=self.headers,
            body=body,
            request_id=str(uuid.uuid4()),
            base_url=f"http://{host}",
        )
        parse_body(req)
        return req

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._send(plain_error(400, "bad_request", "bad Content-Length"))
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(plain_error(413, "request_too_large", "request body too large"))
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                self._send(plain_error(413, "request_too_large", "request body too large"))
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: Response) -> None:
        if response.drop:
            self.close_connection = True
            return
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up first

    # A waiting call sleeps in the kernel, on its own connection, for this long at most
    # between looks at the stop flag: a thousand calls waiting at once must not wake
    # the process (and queue for the GIL) several times a second each.
    WAIT_SLICE = 1.0

    def _wait(self, seconds: float) -> bool:
        """Wait; True if cut short by server stop or the client leaving."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.server.sim.stop_event.is_set():
                return True
            slice_ = min(self.WAIT_SLICE, remaining)
            state = self._client_state(slice_)
            if state == "gone":
                return True
            # Pipelined bytes keep poll() readable: sleep plainly instead.
            if state == "sent more" and self.server.sim.stop_event.wait(slice_):
                return True
        return False

    def _client_gone(self) -> bool:
        return self._client_state(0) == "gone"

    def _client_state(self, timeout: float) -> str:
        """Quiet, sent more, or gone: what the client did within `timeout` seconds.

        poll(), not select(): select() refuses descriptors >= 1024 (FD_SETSIZE), and a
        simulator holding a thousand slow calls has connections past that.
        """
        try:
            poller = select.poll()
            poller.register(self.connection, select.POLLIN)
            if not poller.poll(timeout * 1000):
                return "quiet"
            return "gone" if self.connection.recv(1, socket.MSG_PEEK) == b"" else "sent more"
        except (OSError, ValueError):
            return "gone"


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Listen backlog: hundreds of clients may connect in the same instant.
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, SimHandler)

    @property
    def url_host(self) -> str:
        host = str(self.server_address[0])
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) we don't need.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("simulator connection from %s failed", client_address)
