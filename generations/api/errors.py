"""The one place an exception becomes the API's error envelope.

Every /v1 answer that is not a success goes through `error_response`, so the
shape `{"error": {"message", "type", "param", "code"}}`, the status that picks
the SDK's exception class, and `x-should-retry` are decided here and nowhere else.
"""

from __future__ import annotations

import logging

from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from common.errors import DarkroomError, InvalidRequest

log = logging.getLogger(__name__)


class AuthenticationFailed(DarkroomError):
    status = 401
    code = "invalid_api_key"


class ModelNotAllowed(DarkroomError):
    """The key's allow-list does not include the model."""

    status = 403
    code = "model_not_allowed"


class NotFound(DarkroomError):
    status = 404
    code = "not_found"


class MethodNotAllowed(DarkroomError):
    status = 405
    code = "method_not_allowed"


class IdempotencyConflict(DarkroomError):
    status = 409
    code = "idempotency_key_reused"


class PayloadTooLarge(DarkroomError):
    status = 413
    code = "request_too_large"


class WaitTimedOut(DarkroomError):
    """The job outlived the wait ceiling; it goes on, and the message names it."""

    status = 504
    type = "timeout_error"
    code = "wait_timeout"


class RateLimited(DarkroomError):
    """Too many requests with one key this minute. Retryable: the SDK waits Retry-After."""

    status = 429
    type = "requests"  # what OpenAI sends for a requests-per-minute limit
    code = "rate_limit_exceeded"
    retryable = True

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(DarkroomError):
    status = 500
    type = "server_error"
    code = "internal_error"
    retryable = True


class ServiceUnavailable(DarkroomError):
    """A dependency (the database) did not answer. Whatever was written rolled back with
    the transaction, so nothing is reserved: a retry after Retry-After is safe."""

    status = 503
    type = "server_error"
    code = "service_unavailable"
    retryable = True
    retry_after = 5


# The database refused or dropped the connection: transient, and the request's
# transaction rolled back with it.
UNAVAILABLE = (OperationalError, InterfaceError)


def api_error(exc: Exception) -> DarkroomError:
    """The exception as the error the API tells; an unexpected one is logged and hidden."""
    if isinstance(exc, DarkroomError):
        return exc
    if isinstance(exc, DisallowedHost):
        # The caller named a host we do not serve: their mistake, and a retry cannot fix it.
        return InvalidRequest(
            "The Host header names a host this server does not serve.",
            param=None,
            code="invalid_host",
        )
    if isinstance(exc, SuspiciousOperation):
        log.warning("suspicious request refused: %s", exc)
        return InvalidRequest("The request is malformed.", code="invalid_request")
    if isinstance(exc, UNAVAILABLE):
        log.warning("the database is unavailable: %r", exc)
        return ServiceUnavailable("The service is briefly unavailable; try again shortly.")
    log.exception("unhandled error in the API", exc_info=exc)
    return ServerError("The server failed to handle the request.")


def error_response(exc: Exception) -> JsonResponse:
    error = api_error(exc)
    response = JsonResponse(error.envelope(), status=error.status)
    # The SDK retries 409, 429 and 5xx on its own; a retry that cannot help
    # (or would start a second job) must be refused explicitly.
    response["x-should-retry"] = "true" if error.retryable else "false"
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
