"""What /v1 refuses before Django reads a byte of the body.

Django's ASGI handler reads (and spools to disk) the whole body before any view
runs. A request that states a body over DARKROOM_API_MAX_BODY_BYTES, or sends
more than that, is answered 413 here; one that carries a body but no valid key is
answered 401 without reading it. The key found here rides on the ASGI scope, so
the view does not look it up a second time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from accounts.models import ApiKey
from common.ops import context
from generations.api.auth import key_for
from generations.api.errors import AuthenticationFailed, PayloadTooLarge, error_response
from generations.sync import run_sync

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SCOPE_KEY = "darkroom.api_key"
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class BodyTooLarge(Exception):
    """Raised from receive() once more bytes arrived than the limit allows."""


def too_large() -> PayloadTooLarge:
    limit = settings.DARKROOM_API_MAX_BODY_BYTES
    return PayloadTooLarge(
        f"The request body is over the limit of {limit} bytes ({limit // 2**20} MiB)."
    )


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def _bearer(scope: Scope) -> str:
    scheme, _, token = _header(scope, b"authorization").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
    return token.strip()


async def refusal(scope: Scope) -> Exception | None:
    """Why this request is answered before its body is read, or None to go on."""
    if scope.get("method") not in _BODY_METHODS:
        return None
    declared = _header(scope, b"content-length")
    if (
        declared.isascii()
        and declared.isdigit()
        and int(declared) > settings.DARKROOM_API_MAX_BODY_BYTES
    ):
        return too_large()
    try:
        key: ApiKey = await run_sync(key_for, _bearer(scope))
    except Exception as exc:  # AuthenticationFailed, or the database away: the envelope
        return exc
    scope[SCOPE_KEY] = key
    return None


def limited(receive: Receive) -> Receive:
    """receive(), raising BodyTooLarge as soon as the body passes the limit."""
    seen = 0

    async def counting() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > settings.DARKROOM_API_MAX_BODY_BYTES:
                raise BodyTooLarge
        return message

    return counting


async def send_error(scope: Scope, send: Send, exc: Exception) -> None:
    response = error_response(exc)
    # The caller's id when it is safe to echo, as every other /v1 answer does.
    response["x-request-id"] = context.accepted_request_id(_header(scope, b"x-request-id"))
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    headers.append((b"content-length", str(len(response.content)).encode()))
    headers.append((b"connection", b"close"))  # the unread body makes the connection useless
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
