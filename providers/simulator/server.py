"""The simulator: a stdlib HTTP server that speaks the upstream formats.

`Simulator` is the transport-free part: the route table, bearer auth, faults,
request recording and expiring file links. `SimulatorServer` puts it on a
socket (ThreadingHTTPServer: one thread per connection, so hundreds of slow
requests can be in flight at once) and runs it in a background thread.

Shared endpoints, whatever the formats:
- `GET|HEAD /files/<token>.<ext>`: a result image. No auth (the unguessable
  token is the credential, as in a signed URL). Once its link has expired it
  answers 403 with an S3-style XML `AccessDenied` body, as signed-URL stores do;
  a token never handed out answers 404 `NoSuchKey`.
- Control API, no auth, never recorded, never faulted:
  `GET /_sim/health`; `POST /_sim/faults` (see faults.py), `GET /_sim/faults`,
  `DELETE /_sim/faults`; `GET /_sim/requests[?path=<prefix>]`,
  `DELETE /_sim/requests`; `POST /_sim/reset` (faults, requests, files, jobs);
  `GET|POST /_sim/config` (`job_seconds`: how long asynchronous jobs run;
  `chat_reply`: markdown | bare | data, how the chat format gives its picture).
"""

from __future__ import annotations

import contextlib
import copy
import email.parser
import email.policy
import hashlib
import json
import logging
import secrets
import select
import socket
import socketserver
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import faults as faultlib
from .bfl import BFLFormat
from .chat import ChatFormat
from .core import Format, Response, Route, SimRequest, UploadedFile, json_response, route
from .modelverse import ModelVerseFormat
from .replicate import ReplicateFormat
from .reseller import ResellerImagesFormat

logger = logging.getLogger("providers.simulator")

# Every format the simulator speaks, in route-priority order. Adding a format is
# one module with a `Format` subclass plus one line here.
FORMATS: list[type[Format]] = [
    ModelVerseFormat, ResellerImagesFormat, ChatFormat, ReplicateFormat, BFLFormat,
]

DEFAULT_KEY = "sim-key"
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_RECORDED = 2000
MAX_RECORDED_BYTES = 256 * 1024 * 1024
# Header values worth asserting on; transport noise (host, connection...) is left out.
_UNRECORDED_HEADERS = {"host", "connection", "content-length", "accept-encoding", "keep-alive"}
_IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def default_keys() -> list[str]:
    try:
        from django.conf import settings

        return [settings.DARKROOM_SIMULATOR_KEY]
    except Exception:  # used outside Django (a bare script): the documented default
        return [DEFAULT_KEY]


# --- shared state -----------------------------------------------------------------


@dataclass
class _File:
    data: bytes | None
    content_type: str
    expires_at: float  # time.monotonic()


class FileStore:
    """Result images behind unguessable tokens, each with its own expiry.

    Expired entries drop their bytes but keep a tombstone (bounded), so an
    expired link answers "expired" rather than "never existed".
    """

    MAX_TOMBSTONES = 100_000
    PURGE_EVERY = 1.0  # seconds; a purge walks every entry

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: OrderedDict[str, _File] = OrderedDict()
        self._purged_at = 0.0

    def put(self, data: bytes, *, ttl: float, content_type: str = "image/png") -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._purge()
            self._files[token] = _File(data, content_type, time.monotonic() + ttl)
        return token

    def get(self, token: str) -> tuple[str, bytes, str]:
        """("ok", data, content type) | ("expired", b"", "") | ("missing", b"", "")."""
        with self._lock:
            entry = self._files.get(token)
            if entry is None:
                return "missing", b"", ""
            if entry.data is None or time.monotonic() >= entry.expires_at:
                return "expired", b"", ""
            return "ok", entry.data, entry.content_type

    def clear(self) -> None:
        with self._lock:
            self._files.clear()

    def _purge(self) -> None:
        now = time.monotonic()
        if now - self._purged_at < self.PURGE_EVERY:
            return
        self._purged_at = now
        dead = []
        for token, entry in self._files.items():
            if entry.expires_at <= now:
                entry.data = None
                dead.append(token)
        for token in dead[: max(0, len(dead) - self.MAX_TOMBSTONES)]:  # oldest first
            del self._files[token]


class Recorder:
    """Every request received outside the control API, oldest first.

    Bodies are kept whole (tests assert what was sent, data URLs included), so
    the log is bounded by count and by total body bytes, dropping the oldest.
    """

    def __init__(self, maxlen: int = MAX_RECORDED, max_bytes: int = MAX_RECORDED_BYTES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque()
        self._maxlen, self._max_bytes, self._bytes = maxlen, max_bytes, 0
        self._seq = 0

    def start(self, req: SimRequest, fmt: Format | None) -> dict[str, Any]:
        entry = {
            "request_id": req.request_id,
            "time": time.time(),
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "format": fmt.name if fmt is not None else None,
            "headers": {
                k.lower(): v for k, v in req.headers.items() if k.lower() not in _UNRECORDED_HEADERS
            },
            "json": req.json,
            "form": req.form,
            "files": [_file_summary(f) for f in req.files],
            "body_size": len(req.body),
            "status": None,  # filled in when the answer goes out (None while in flight)
            "fault": None,
            "notes": {},
        }
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            self._bytes += len(req.body)
            while len(self._entries) > 1 and (
                len(self._entries) > self._maxlen or self._bytes > self._max_bytes
            ):
                self._bytes -= self._entries.popleft()["body_size"]
        return entry

    def finish(self, entry: dict[str, Any], status: int | None) -> None:
        with self._lock:
            entry["status"] = status

    def list(self, path: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            entries = [e for e in self._entries if path is None or e["path"].startswith(path)]
            return copy.deepcopy(entries)

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._bytes = 0
            return count


def _file_summary(f: UploadedFile) -> dict[str, Any]:
    return {
        "field": f.field,
        "filename": f.filename,
        "content_type": f.content_type,
        "size": len(f.data),
        "sha256": hashlib.sha256(f.data).hexdigest(),
    }


# --- the transport-free simulator ----------------------------------------------------


class Simulator:
    """Routes a parsed request to a format handler, applying auth, faults and recording."""

    def __init__(
        self,
        *,
        keys: Iterable[str] | None = None,
        link_ttl: float | None = None,
        latency: float = 0.0,
        public_url: str | None = None,
        formats: Iterable[type[Format]] | None = None,
        job_seconds: float = 1.0,
    ) -> None:
        self.keys = frozenset(keys if keys is not None else default_keys())
        self.link_ttl = link_ttl
        self.latency = latency
        # Settable at run time (POST /_sim/config): how long an asynchronous job
        # runs, and how the chat format words its answer (markdown, bare, data).
        self.config: dict[str, Any] = {"job_seconds": job_seconds, "chat_reply": "markdown"}
        self.public_url = public_url.rstrip("/") if public_url else None
        self.stop_event = threading.Event()
        self.faults = faultlib.FaultQueue()
        self.recorder = Recorder()
        self.files = FileStore()
        self.formats = [cls(self) for cls in (formats if formats is not None else FORMATS)]
        self._routes: list[tuple[Route, Format | None]] = [
            (route("GET", r"/files/(?P<token>[A-Za-z0-9_-]+)\.(?P<ext>\w+)", self._file), None),
        ]
        for fmt in self.formats:
            self._routes.extend((r, fmt) for r in fmt.routes())
        self._control = [
            route("GET", r"/_sim/health", lambda req: json_response(200, {"status": "ok"})),
            route("POST", r"/_sim/faults", self._add_fault),
            route("GET", r"/_sim/faults", self._list_faults),
            route("DELETE", r"/_sim/faults", lambda req: _cleared(self.faults.clear())),
            route("GET", r"/_sim/requests", self._list_requests),
            route("DELETE", r"/_sim/requests", lambda req: _cleared(self.recorder.clear())),
            route("POST", r"/_sim/reset", self._reset),
            route("GET", r"/_sim/config", lambda req: json_response(200, self.config)),
            route("POST", r"/_sim/config", self._set_config),
        ]

    # -- services for formats --

    def publish(
        self, req: SimRequest, data: bytes, *, ttl: float, ext: str = "png", age: float = 0.0,
        expired: bool = False,
    ) -> str:
        """Store a result and return its link, valid `ttl` seconds (or the server's link_ttl)
        counted from `age` seconds ago (a job that finished before it was polled)."""
        ttl = (self.link_ttl if self.link_ttl is not None else ttl) - max(0.0, age)
        if req.expire_links or expired:
            ttl = -1.0
        token = self.files.put(data, ttl=ttl, content_type=_IMAGE_TYPES.get(ext, "image/png"))
        return f"{self.public_url or req.base_url}/files/{token}.{ext}"

    def add_fault(self, spec: dict[str, Any]) -> faultlib.Fault:
        return self.faults.add(faultlib.fault_from_spec(spec))

    def reset(self) -> None:
        self.faults.clear()
        self.recorder.clear()
        self.files.clear()
        for fmt in self.formats:
            fmt.reset()

    def format(self, name: str) -> Format:
        return next(fmt for fmt in self.formats if fmt.name == name)

    # -- dispatch --

    def handle(self, req: SimRequest, wait: faultlib.Wait) -> Response:
        if req.path.startswith("/_sim/"):
            return self._dispatch_control(req)
        found = self._find(req)
        req.record = self.recorder.start(req, None if isinstance(found, Response) else found[1])
        response = Response(drop=True)
        try:
            response = found if isinstance(found, Response) else self._run(*found, req, wait)
        finally:
            self.recorder.finish(req.record, None if response.drop else response.status)
        return response

    def _run(self, rt: Route, fmt: Format | None, req: SimRequest, wait: faultlib.Wait) -> Response:
        if fmt is not None:
            if fmt.credential(req) not in self.keys:
                return fmt.error(
                    req,
                    401,
                    "Incorrect API key provided.",
                    code="invalid_api_key",
                    type="authentication_error",
                )
            if self.latency and wait(self.latency):
                return Response(drop=True)
        model = fmt.model_of(req) if fmt is not None else None
        fault = self.faults.take(req.path, model, api=fmt is not None)
        if fault is None and fmt is not None:
            fault = self.faults.from_prompt(fmt.prompt_of(req))
        if fault is not None:
            req.record["fault"] = fault.kind
            answer = faultlib.apply(fault, req, fmt, wait)
            if answer is not None:
                return answer
        try:
            return rt.handler(req)
        except Exception:
            logger.exception("simulator handler failed on %s %s", req.method, req.path)
            if fmt is None:
                return Response(status=500, body=b"internal error", content_type="text/plain")
            return fmt.error(
                req, 500, "simulator bug: see its log", code="internal_error", type="server_error"
            )

    def _find(self, req: SimRequest) -> tuple[Route, Format | None] | Response:
        candidates = []
        path_matched = False
        method = "GET" if req.method == "HEAD" else req.method
        for rt, fmt in self._routes:
            match = rt.pattern.fullmatch(req.path)
            if match is None:
                continue
            path_matched = True
            if rt.method == method:
                candidates.append((rt, fmt, match))
        # A route with a `when` that accepts beats the unconditional fallback.
        for rt, fmt, match in sorted(candidates, key=lambda c: c[0].when is None):
            req.match = match
            if rt.when is None or rt.when(req):
                return rt, fmt
        if path_matched:
            return _plain_error(405, "method_not_allowed", f"{req.method} not allowed here")
        return _plain_error(404, "not_found", f"no such endpoint: {req.method} {req.path}")

    def _dispatch_control(self, req: SimRequest) -> Response:
        for rt in self._control:
            match = rt.pattern.fullmatch(req.path)
            if match is not None and rt.method == req.method:
                req.match = match
                return rt.handler(req)
        return _plain_error(404, "not_found", f"no such control endpoint: {req.method} {req.path}")

    # -- shared handlers --

    def _file(self, req: SimRequest) -> Response:
        assert req.match is not None
        state, data, content_type = self.files.get(req.match["token"])
        if state == "ok":
            return Response(
                body=data,
                content_type=content_type,
                headers={"Cache-Control": "private, max-age=60"},
            )
        if state == "expired":
            return _xml_error(403, "AccessDenied", "Request has expired")
        return _xml_error(404, "NoSuchKey", "The specified key does not exist.")

    def _add_fault(self, req: SimRequest) -> Response:
        try:
            fault = self.add_fault(req.json)
        except faultlib.FaultSpecError as exc:
            return _plain_error(400, "invalid_fault", str(exc))
        return json_response(201, {"fault": fault.as_dict()})

    def _list_faults(self, req: SimRequest) -> Response:
        return json_response(200, {"faults": self.faults.list()})

    def _list_requests(self, req: SimRequest) -> Response:
        path = req.query.get("path", [None])[0]
        return json_response(200, {"requests": self.recorder.list(path)})

    def _set_config(self, req: SimRequest) -> Response:
        try:
            self.configure(**(req.json or {}))
        except (TypeError, ValueError) as exc:
            return _plain_error(400, "invalid_config", str(exc))
        return json_response(200, self.config)

    def configure(self, **values: Any) -> None:
        for key, value in values.items():
            if key == "job_seconds" and isinstance(value, int | float) and value >= 0:
                self.config[key] = float(value)
            elif key == "chat_reply" and value in ("markdown", "bare", "data"):
                self.config[key] = value
            else:
                raise ValueError(f"bad config {key}={value!r}: job_seconds >= 0, "
                                 "chat_reply markdown|bare|data")

    def _reset(self, req: SimRequest) -> Response:
        self.reset()
        return json_response(200, {"reset": True})


def _cleared(count: int) -> Response:
    return json_response(200, {"cleared": count})


def _plain_error(status: int, code: str, message: str) -> Response:
    return json_response(
        status,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        },
    )


def _xml_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(status=status, body=body.encode(), content_type="application/xml")


# --- request parsing ---------------------------------------------------------------


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


# --- transport -----------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: pooled clients reuse connections
    server_version = "DarkroomSimulator/1.0"
    sys_version = ""
    # An idle keep-alive connection gives its thread back after this long.
    timeout = 120
    server: _HTTPServer

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
            self._send(_plain_error(400, "bad_request", "bad Content-Length"))
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(_plain_error(413, "request_too_large", "request body too large"))
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
                self._send(_plain_error(413, "request_too_large", "request body too large"))
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

    def _wait(self, seconds: float) -> bool:
        """Sleep in slices; True if cut short by server stop or the client leaving."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.server.sim.stop_event.wait(min(0.2, remaining)) or self._client_gone():
                return True
        return False

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Listen backlog: hundreds of clients may connect in the same instant.
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

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


class SimulatorServer:
    """The simulator on a socket.

    `SimulatorServer(host="127.0.0.1", port=0, link_ttl=None, latency=0.0,
    keys=None, public_url=None, formats=None, job_seconds=1.0)`; `start()` serves from a daemon
    thread, `stop()` ends it (hung requests included), `url` is the base URL.
    Also a context manager. `link_ttl=None` keeps each format's own link life
    (ModelVerse: 7 days); `keys=None` accepts settings.DARKROOM_SIMULATOR_KEY.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        link_ttl: float | None = None,
        latency: float = 0.0,
        keys: Iterable[str] | str | None = None,
        public_url: str | None = None,
        formats: Iterable[type[Format]] | None = None,
        job_seconds: float = 1.0,
    ) -> None:
        self.sim = Simulator(
            keys=[keys] if isinstance(keys, str) else keys,
            link_ttl=link_ttl,
            latency=latency,
            public_url=public_url,
            formats=formats,
            job_seconds=job_seconds,
        )
        self._httpd = _HTTPServer((host, port), self.sim)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._httpd.url_host}:{self._httpd.server_port}"

    @property
    def port(self) -> int:
        return self._httpd.server_port

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="darkroom-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.sim.stop_event.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- in-process conveniences (the same as the control API) --

    def add_fault(self, fault: str, **spec: Any) -> faultlib.Fault:
        return self.sim.add_fault({"fault": fault, **spec})

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        return self.sim.recorder.list(path)

    def reset(self) -> None:
        self.sim.reset()

    def configure(self, **values: Any) -> None:
        self.sim.configure(**values)
