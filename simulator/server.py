"""The simulator: a stdlib HTTP server that speaks the upstream formats.

`Simulator` is the transport-free part: the route table, bearer auth, faults,
the control API, request recording (recording.py) and expiring file links
(files.py). `SimulatorServer` puts it on a socket and serves it from a background
thread: aio.py's asyncio server by default (a waiting call holds no thread, so a
thousand slow calls cost a thousand coroutines), or transport.py's
ThreadingHTTPServer (one thread per connection) with `threaded=True`.

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

import logging
import threading
from collections.abc import Generator, Iterable
from types import TracebackType
from typing import Any

from simulator import faults as faultlib
from simulator import signing
from simulator.aio import AsyncSimServer
from simulator.bfl import BFLFormat
from simulator.chat import ChatFormat
from simulator.core import Format, Response, Route, SimRequest, json_response, plain_error, route
from simulator.files import Content, FileStore
from simulator.modelverse import ModelVerseFormat
from simulator.moderation import ModerationFormat
from simulator.recording import Recorder
from simulator.replicate import ReplicateFormat
from simulator.reseller import ResellerImagesFormat
from simulator.transport import SimHTTPServer

logger = logging.getLogger("simulator")

# Every format the simulator speaks, in route-priority order. Adding a format is
# one module with a `Format` subclass plus one line here.
FORMATS: list[type[Format]] = [
    ModelVerseFormat,
    ResellerImagesFormat,
    ChatFormat,
    ReplicateFormat,
    BFLFormat,
    ModerationFormat,
]

DEFAULT_KEY = "sim-key"
_IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def default_keys() -> list[str]:
    try:
        from django.conf import settings

        return [settings.DARKROOM_SIMULATOR_KEY]
    except Exception:  # used outside Django (a bare script): the documented default
        return [DEFAULT_KEY]


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
        self.config: dict[str, Any] = {
            "job_seconds": job_seconds,
            "chat_reply": "markdown",
            "sign_results": None,
        }
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
        self,
        req: SimRequest,
        data: Content,
        *,
        ttl: float,
        ext: str = "png",
        age: float = 0.0,
        expired: bool = False,
    ) -> str:
        """Store a result and return its link, valid `ttl` seconds (or the server's link_ttl)
        counted from `age` seconds ago (a job that finished before it was polled)."""
        ttl = (self.link_ttl if self.link_ttl is not None else ttl) - max(0.0, age)
        if req.expire_links or expired:
            ttl = -1.0
        signer = self.config.get("sign_results")
        if signer and ext == "png":
            data = signing.signed(data, signer)
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
        """Answer in this thread, waiting (latency, faults) with `wait`."""
        steps = self.steps(req)
        try:
            seconds = next(steps)
            while True:
                seconds = steps.send(wait(seconds))
        except StopIteration as done:
            return done.value

    def steps(self, req: SimRequest) -> Generator[float, bool, Response]:
        """The request's handling, yielding each wait it needs (see faults.Steps)."""
        if req.path.startswith("/_sim/"):
            return self._dispatch_control(req)
        found = self._find(req)
        req.record = self.recorder.start(req, None if isinstance(found, Response) else found[1])
        response = Response(drop=True)
        try:
            if isinstance(found, Response):
                response = found
            else:
                response = yield from self._run(*found, req)
        finally:
            self.recorder.finish(req.record, None if response.drop else response.status)
        return response

    def _run(
        self, rt: Route, fmt: Format | None, req: SimRequest
    ) -> Generator[float, bool, Response]:
        if fmt is not None:
            if fmt.credential(req) not in self.keys:
                return fmt.error(
                    req,
                    401,
                    "Incorrect API key provided.",
                    code="invalid_api_key",
                    type="authentication_error",
                )
            if self.latency and (yield self.latency):
                return Response(drop=True)
        model = fmt.model_of(req) if fmt is not None else None
        fault = self.faults.take(req.path, model, api=fmt is not None)
        if fault is None and fmt is not None:
            fault = self.faults.from_prompt(fmt.prompt_of(req))
        if fault is not None:
            req.record["fault"] = fault.kind
            answer = yield from faultlib.apply(fault, req, fmt)
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
            return plain_error(405, "method_not_allowed", f"{req.method} not allowed here")
        return plain_error(404, "not_found", f"no such endpoint: {req.method} {req.path}")

    def _dispatch_control(self, req: SimRequest) -> Response:
        for rt in self._control:
            match = rt.pattern.fullmatch(req.path)
            if match is not None and rt.method == req.method:
                req.match = match
                return rt.handler(req)
        return plain_error(404, "not_found", f"no such control endpoint: {req.method} {req.path}")

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
            return plain_error(400, "invalid_fault", str(exc))
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
            return plain_error(400, "invalid_config", str(exc))
        return json_response(200, self.config)

    def configure(self, **values: Any) -> None:
        for key, value in values.items():
            if key == "job_seconds" and isinstance(value, int | float) and value >= 0:
                self.config[key] = float(value)
            elif key == "chat_reply" and value in ("markdown", "bare", "data"):
                self.config[key] = value
            elif key == "sign_results":
                self.config[key] = signing.check_signer(value)
            else:
                raise ValueError(
                    f"bad config {key}={value!r}: job_seconds >= 0, chat_reply markdown|bare|data, "
                    "sign_results null or {chain_pem, key_pem, alg}"
                )

    def _reset(self, req: SimRequest) -> Response:
        self.reset()
        return json_response(200, {"reset": True})


def _cleared(count: int) -> Response:
    return json_response(200, {"cleared": count})


def _xml_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(status=status, body=body.encode(), content_type="application/xml")


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
        threaded: bool = False,
    ) -> None:
        self.sim = Simulator(
            keys=[keys] if isinstance(keys, str) else keys,
            link_ttl=link_ttl,
            latency=latency,
            public_url=public_url,
            formats=formats,
            job_seconds=job_seconds,
        )
        # asyncio by default: a waiting call holds no thread. `threaded=True` keeps the
        # thread-per-connection transport, for comparison (bench/simulator_load.py).
        self._httpd: SimHTTPServer | None = None
        self._aio: AsyncSimServer | None = None
        if threaded:
            self._httpd = SimHTTPServer((host, port), self.sim)
        else:
            self._aio = AsyncSimServer((host, port), self.sim)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        server = self._aio or self._httpd
        assert server is not None
        return f"http://{server.url_host}:{server.server_port}"

    @property
    def port(self) -> int:
        server = self._aio or self._httpd
        assert server is not None
        return int(server.server_port)

    def start(self) -> SimulatorServer:
        if self._aio is not None:
            self._aio.start()
            return self
        assert self._httpd is not None
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
        if self._aio is not None:
            self._aio.stop()
            return
        assert self._httpd is not None
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
