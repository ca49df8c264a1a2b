"""The provider contract: one adapter class per upstream wire format.

An adapter turns a plain `ProviderRequest` into upstream HTTP calls and returns a
plain outcome. It never touches the database or storage, and it reaches the
network only through `providers.http.send` (one name for tests to patch).

- `submit(request)` starts the work. A synchronous format returns `Completed`.
  An asynchronous one returns `Pending` with a JSON-able `state` that the caller
  stores and hands back to `poll(state)` after `poll_after` seconds.
- Every failure is a `ProviderError`. `retryable` decides what happens next:
  True (429, 5xx, timeouts, garbage) means the same request may succeed later or
  on another channel; False (bad request, moderation, not found, auth) means it
  will not, and the job fails and its quota is released.
- Result images come back as a URL (downloaded by the caller at once, in the
  same task step that saw it, because upstream links expire) or as bytes already
  decoded.
- `unsupported(request)` says, before any call, why this channel cannot carry a
  request (a reference image to a text-only endpoint, n > 1 to a one-image
  task): the caller then tries the next channel. Parameters a format merely has
  no field for are dropped by the adapter, never sent.
- `poll_deadline`: how long after its submit an asynchronous job may still be
  polled; past it the caller fails the job and refunds it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar


@dataclass(frozen=True)
class InputImage:
    """A reference image we already checked (format, size) and hold in memory."""

    data: bytes
    mime: str  # image/png, image/jpeg or image/webp

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode()}"

    @property
    def ext(self) -> str:
        return self.mime.split("/", 1)[1].replace("jpeg", "jpg")


@dataclass(frozen=True)
class ChannelConfig:
    """A resolved upstream endpoint: where to send, with which key, for which model.

    Built by providers.channels from a `providers.models.Channel` row (the admin's
    record) plus the environment; adapters only ever see this plain value.
    """

    name: str
    format: str
    base_url: str
    api_key: str
    upstream_model: str
    # Hosts result images may be downloaded from (the base URL's host, plus any
    # the channel names); everything else is refused.
    result_hosts: frozenset[str] = frozenset()
    options: dict[str, Any] = field(default_factory=dict)
    timeout: float = 180.0
    # The channel's price for this model (per image, per megapixel), read with the
    # channel itself just before the call; `priced` False: not read (look it up).
    price: tuple[Decimal, Decimal] | None = None
    priced: bool = False
    # Read with the channel: no failures in a row and not cooling off, so a success has
    # nothing to reset (providers.services.channel_succeeded). False: not known.
    healthy: bool = False


@dataclass(frozen=True)
class Callback:
    """Where an upstream that calls back (BFL's webhook) tells us a task is done, and
    the secret it must send back. Built by the caller, who owns the route."""

    url: str
    secret: str


@dataclass(frozen=True)
class ProviderRequest:
    """Validated public parameters, in our vocabulary; adapters translate them."""

    prompt: str
    params: dict[str, Any]
    images: dict[str, list[InputImage]] = field(default_factory=dict)
    request_id: str = ""
    callback: Callback | None = None  # None: no public address to call back on


@dataclass(frozen=True)
class ResultImage:
    url: str | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class Completed:
    images: list[ResultImage]
    upstream_id: str = ""


@dataclass(frozen=True)
class Pending:
    upstream_id: str
    state: dict[str, Any]
    poll_after: float = 2.0


Outcome = Completed | Pending


class ProviderError(Exception):
    """An upstream failure, mapped to our words.

    `code` is stable and user-facing (upstream_rate_limited, upstream_unavailable,
    upstream_timeout, upstream_bad_response, moderation_blocked, invalid_request,
    upstream_auth_failed, upstream_not_found, result_expired, ...).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ProviderError({self.code!r}, retryable={self.retryable}, {self.message!r})"


class Provider:
    """Base class of every adapter; see the module docstring for the contract."""

    format: ClassVar[str] = ""
    poll_deadline: ClassVar[float] = 600.0

    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel

    def unsupported(self, request: ProviderRequest) -> str | None:  # noqa: ARG002
        return None

    def deadline(self) -> float:
        return float(self.channel.options.get("poll_deadline", self.poll_deadline))

    def submit(self, request: ProviderRequest) -> Outcome:
        raise NotImplementedError

    def poll(self, state: dict[str, Any]) -> Outcome:  # noqa: ARG002
        raise ProviderError(
            f"{self.format} does not poll", code="upstream_bad_response", retryable=False
        )
