"""The pieces a simulated wire format is built from: request, response, route, format.

A format is one module with one `Format` subclass whose `routes()` returns a
small route table (method + path regex -> handler). The server owns everything
the formats share: bearer auth, fault injection, request recording, image
rendering (`images.py`) and expiring file links (`Simulator.publish`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from simulator.faults import Fault
    from simulator.server import Simulator


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class SimRequest:
    """One parsed HTTP request, as handlers and faults see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    request_id: str
    base_url: str  # how the client reached us: the prefix of every link we hand out
    json: Any = None
    json_error: str | None = None
    form: dict[str, list[str]] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)
    match: re.Match[str] | None = None
    # Set by the `expired_link` fault: links published for this request are born dead.
    expire_links: bool = False
    # Set by the `resize` fault: images come back at this (width, height), not as asked.
    deliver_size: tuple[int, int] | None = None
    # Set when an asynchronous format takes a fault as the job's fate (moderation,
    # task_error, task_not_found): the job is accepted and ends that way.
    fate: str | None = None
    # The recorded entry (see Recorder); handlers may add notes to it via `note()`.
    record: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def note(self, key: str, value: Any) -> None:
        self.record.setdefault("notes", {})[key] = value


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Close the connection without a byte of answer (what a dead upstream does).
    drop: bool = False


# Returned by `Format.fault_response` to let the handler answer after all (the
# fault having marked the request, e.g. `req.fate`).
PROCEED = Response(status=0)


def json_response(status: int, payload: Any, *, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return Response(status=status, body=body, headers=dict(headers or {}))


Handler = Callable[[SimRequest], Response]
Predicate = Callable[[SimRequest], bool]


def openai_error(
    status: int, message: str, *, code: str, type: str, param: str | None = None
) -> Response:
    """The `{"error": {message, type, param, code}}` envelope OpenAI-style gateways send."""
    envelope = {"message": message, "type": type, "param": param, "code": code}
    return json_response(status, {"error": envelope})


def plain_error(status: int, code: str, message: str) -> Response:
    """The simulator's own errors (no such endpoint, bad body, control API), format-free."""
    return openai_error(status, message, code=code, type="invalid_request_error")


@dataclass(frozen=True)
class Route:
    """`method` + full-match `pattern` -> `handler`.

    Two formats may share a path (the reseller's DALL-E format and ModelVerse
    both serve /v1/images/generations): a route with `when` takes the request
    only if `when(request)` is true; the route without `when` is the fallback.
    """

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    when: Predicate | None = None


def route(method: str, pattern: str, handler: Handler, *, when: Predicate | None = None) -> Route:
    return Route(method.upper(), re.compile(pattern), handler, when)


class Format:
    """A simulated upstream wire format.

    Contract for a subclass:
    - `name`, and `link_ttl`: how long this upstream's result links live
      (the server's `link_ttl`, when given, overrides it for every format).
    - `routes()`: the route table. Handlers get a `SimRequest` whose auth was
      already checked and whose fault (if any) was already applied, and return a
      `Response`. Publish result images with `self.sim.publish(...)`.
    - `error()`: this format's error envelope; the server uses it for auth
      failures and injected faults, so every failure looks like the real thing.
    - Optional hooks: `credential()` (where the key is), `model_of()` and
      `prompt_of()` (used to match faults and read prompt directives), and
      `fault_response()` to render a fault differently (an asynchronous format
      may report moderation in a poll result instead of an HTTP error).
    """

    name: ClassVar[str] = ""
    link_ttl: ClassVar[float] = 7 * 24 * 3600

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def error(
        self, req: SimRequest, status: int, message: str, *, code: str, type: str = ""
    ) -> Response:
        raise NotImplementedError

    def credential(self, req: SimRequest) -> str | None:
        scheme, _, token = req.header("Authorization").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def model_of(self, req: SimRequest) -> str | None:
        model = req.json.get("model") if isinstance(req.json, dict) else None
        return model if isinstance(model, str) else None

    def prompt_of(self, req: SimRequest) -> str | None:
        prompt = req.json.get("prompt") if isinstance(req.json, dict) else None
        return prompt if isinstance(prompt, str) else None

    def reset(self) -> None:
        """Forget per-format state (jobs); called by `Simulator.reset`."""

    def fault_response(self, req: SimRequest, fault: Fault) -> Response | None:
        """Override to render a fault this format's own way; None = the shared way,
        `PROCEED` = let the handler answer (having marked `req`)."""
        return None
