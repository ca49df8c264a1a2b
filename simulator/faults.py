"""Failures on demand, shared by every simulated format.

Two ways to ask for one:

1. Queue it (tests): `POST /_sim/faults` with
   `{"fault": "<kind>", "times": 1, "path": "/v1/", "model": "...", ...params}`.
   The next `times` matching requests consume it (`times: -1` = until cleared).
   `path` is a path prefix, `model` the request's model; both optional. Without
   a `path`, a fault matches only format API calls, never result downloads
   (`/files/...`): give `"path": "/files/"` to break downloads.

2. Put a directive in the prompt (demos): `[sim:fault=<kind>(,<key>=<value>)*]`,
   e.g. `[sim:fault=500]`, `[sim:fault=rate_limit,seconds=5]`,
   `[sim:fault=moderation]`, `[sim:fault=latency,seconds=3]`,
   `[sim:fault=server_error,status=503,times=2]`. `<kind>` is a kind name or an
   HTTP status shorthand (400, 401, 429, 5xx). Without `times` every request
   carrying that prompt fails; with `times=N` only the first N do, so retries of
   the same job eventually succeed.

Kinds and their params:
- latency (seconds=1): wait, then answer normally.
- rate_limit (seconds=1, message): 429 with `Retry-After: <seconds>`.
- server_error (status=500, message): a 5xx in the format's error envelope.
- hang (seconds=600): accept, never answer; ends when the client gives up,
  the server stops or `seconds` pass, and the connection is closed unanswered.
- disconnect: close the connection without answering.
- garbage (status=200, body, content_type): a non-JSON body (a proxy's HTML page).
- expired_link: answer normally, but every link in the answer is already expired.
- resize (width, height): answer normally, but every image at `width` x `height`
  rather than the size asked (an upstream that rounds or clamps sizes); the
  synchronous generation formats (ModelVerse, the reseller's DALL-E format).
- moderation (status=400, code="content_policy_violation", message): refused by
  the safety system.
- bad_request (code="invalid_parameter", message): 400.
- unauthorized (message): 401, as for a wrong key.
- task_error: asynchronous formats accept the job, which then ends failed
  (Replicate `failed`, BFL `Error`); elsewhere a 500.
- task_not_found: asynchronous formats forget the job (Replicate 404 on poll,
  BFL `Task not found`); elsewhere a 404.
Asynchronous formats (replicate, bfl) take `moderation` the same way: the job is
accepted and ends moderated (Replicate `failed` with an NSFW error, BFL
`Content Moderated`), as the real services report it.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.core import PROCEED, Response

if TYPE_CHECKING:
    from simulator.core import Format, SimRequest

# kind -> {param: type}; anything else in a spec is refused, so typos show up.
KINDS: dict[str, dict[str, type]] = {
    "latency": {"seconds": float},
    "rate_limit": {"seconds": float, "message": str},
    "server_error": {"status": int, "message": str},
    "hang": {"seconds": float},
    "disconnect": {},
    "garbage": {"status": int, "body": str, "content_type": str},
    "expired_link": {},
    "resize": {"width": int, "height": int},
    "moderation": {"status": int, "code": str, "message": str},
    "bad_request": {"code": str, "message": str},
    "unauthorized": {"message": str},
    "task_error": {"message": str},
    "task_not_found": {},
}
STATUS_SHORTHANDS = {400: "bad_request", 401: "unauthorized", 429: "rate_limit"}
HANG_LIMIT = 600.0

GARBAGE_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

_DIRECTIVE = re.compile(r"\[sim:([^\]]*)\]")
_ids = itertools.count(1)

# Interruptible sleep given by the server: True if cut short (stop, client gone).
Wait = Callable[[float], bool]
# A request's handling as steps: it yields the seconds it wants to wait and is sent
# back True if the wait was cut short (server stop, client gone), then returns its
# answer. The threaded transport waits in its thread, the asyncio one on the loop.
Steps = Generator[float, bool, "Response | None"]


class FaultSpecError(ValueError):
    """A fault request that names an unknown kind or bad parameters."""


@dataclass
class Fault:
    kind: str
    times: int = 1
    path: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    id: int = field(default_factory=lambda: next(_ids))

    def matches(self, path: str, model: str | None, *, api: bool) -> bool:
        if self.path is not None and not path.startswith(self.path):
            return False
        if self.path is None and not api:
            return False
        return self.model is None or self.model == model

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fault": self.kind,
            "times": self.times,
            "path": self.path,
            "model": self.model,
            **self.params,
        }


def fault_from_spec(spec: Any) -> Fault:
    """`{"fault": kind, "times", "path", "model", ...params}` -> Fault, or FaultSpecError."""
    if not isinstance(spec, dict):
        raise FaultSpecError("a fault is a JSON object")
    spec = dict(spec)
    kind = spec.pop("fault", None)
    if kind not in KINDS:
        raise FaultSpecError(f"unknown fault {kind!r}; kinds: {', '.join(KINDS)}")
    times = spec.pop("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or (times < 1 and times != -1):
        raise FaultSpecError("times must be an integer >= 1, or -1 for until cleared")
    path, model = spec.pop("path", None), spec.pop("model", None)
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise FaultSpecError("path must be a path prefix starting with /")
    if model is not None and not isinstance(model, str):
        raise FaultSpecError("model must be a string")
    return Fault(kind, times, path, model, _params(kind, spec))


def _params(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    allowed = KINDS[kind]
    params: dict[str, Any] = {}
    for name, value in raw.items():
        expected = allowed.get(name)
        if expected is None:
            raise FaultSpecError(f"fault {kind!r} takes no parameter {name!r}")
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if expected is float and numeric and value >= 0:
            params[name] = float(value)
        elif (expected is int and numeric and value == int(value)) or (
            expected is str and isinstance(value, str)
        ):
            params[name] = expected(value)
        else:
            raise FaultSpecError(f"{name} must be a {expected.__name__} (>= 0 for numbers)")
    status = params.get("status")
    if kind == "server_error" and status is not None and not 500 <= status <= 599:
        raise FaultSpecError("server_error status must be 5xx")
    if status is not None and not 100 <= status <= 599:
        raise FaultSpecError("status must be an HTTP status")
    if kind == "resize" and not all(16 <= params.get(k, 512) <= 4096 for k in ("width", "height")):
        raise FaultSpecError("resize width and height must be between 16 and 4096")
    return params


def parse_directive(prompt: str) -> tuple[Fault, str] | None:
    """The first `[sim:...]` directive in a prompt -> (fault, its text), else None.

    A malformed directive is ignored rather than failing the request: a user may
    well write "[sim:" in a prompt by chance.
    """
    match = _DIRECTIVE.search(prompt)
    if not match:
        return None
    spec: dict[str, Any] = {}
    for item in match.group(1).split(","):
        key, _, value = item.strip().partition("=")
        spec[key.strip()] = _scalar(value.strip())
    kind = spec.get("fault")
    if isinstance(kind, int):
        spec["fault"] = STATUS_SHORTHANDS.get(kind, "server_error" if kind >= 500 else kind)
        if kind >= 500:
            spec.setdefault("status", kind)
    # Without `times` a directive fails every request that carries it.
    spec.setdefault("times", -1)
    try:
        return fault_from_spec(spec), match.group(0)
    except FaultSpecError:
        return None


def _scalar(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


class FaultQueue:
    """Queued faults, consumed by matching requests; safe across handler threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        # directive text -> how many requests it has already failed
        self._directive_uses: dict[str, int] = {}

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def clear(self) -> int:
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            self._directive_uses.clear()
            return count

    def take(self, path: str, model: str | None, *, api: bool) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path, model, api=api):
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def from_prompt(self, prompt: str | None) -> Fault | None:
        parsed = parse_directive(prompt or "")
        if parsed is None:
            return None
        fault, text = parsed
        if fault.times == -1:
            return fault
        key = f"{text}\x00{prompt}"
        with self._lock:
            used = self._directive_uses.get(key, 0)
            if used >= fault.times:
                return None
            self._directive_uses[key] = used + 1
        return fault


def apply(fault: Fault, req: SimRequest, fmt: Format | None) -> Steps:
    """The fault's answer, or None to let the handler answer (after any effect)."""
    custom = fmt.fault_response(req, fault) if fmt is not None else None
    if custom is PROCEED:
        return None
    if custom is not None:
        return custom
    p, kind = fault.params, fault.kind
    if kind == "latency":
        cut = yield p.get("seconds", 1.0)
        return Response(drop=True) if cut else None
    if kind == "expired_link":
        req.expire_links = True
        return None
    if kind == "resize":
        req.deliver_size = (p.get("width", 512), p.get("height", 512))
        return None
    if kind == "hang":
        yield min(p.get("seconds", HANG_LIMIT), HANG_LIMIT)
        return Response(drop=True)
    if kind == "disconnect":
        return Response(drop=True)
    if kind == "garbage":
        body = p.get("body", GARBAGE_PAGE).encode()
        content_type = p.get("content_type", "text/html")
        return Response(status=p.get("status", 200), body=body, content_type=content_type)
    return _error(fault, req, fmt)


def _error(fault: Fault, req: SimRequest, fmt: Format | None) -> Response:
    p, kind = fault.params, fault.kind
    status, code, type_, message = {
        "rate_limit": (
            429,
            "rate_limit_exceeded",
            "rate_limit_error",
            "Rate limit reached for requests, please try again later.",
        ),
        "server_error": (
            p.get("status", 500),
            "internal_error",
            "server_error",
            "The server had an error while processing your request.",
        ),
        "moderation": (
            p.get("status", 400),
            p.get("code", "content_policy_violation"),
            "invalid_request_error",
            "Your request was rejected by the safety system: the prompt or "
            "image may contain content that is not allowed.",
        ),
        "bad_request": (
            400,
            p.get("code", "invalid_parameter"),
            "invalid_request_error",
            "Invalid request parameters.",
        ),
        "unauthorized": (
            401,
            "invalid_api_key",
            "authentication_error",
            "Incorrect API key provided.",
        ),
        "task_error": (500, "internal_error", "server_error", "The task failed."),
        "task_not_found": (404, "not_found", "invalid_request_error", "Task not found."),
    }[kind]
    message = p.get("message", message)
    if fmt is not None:
        response = fmt.error(req, status, message, code=code, type=type_)
    else:
        response = Response(status=status, body=message.encode(), content_type="text/plain")
    if kind == "rate_limit":
        response.headers["Retry-After"] = str(math.ceil(p.get("seconds", 1.0)))
    return response
