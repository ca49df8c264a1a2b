"""What every /v1 view shares: request id, method check, errors as the envelope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, HttpResponseBase
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from common.errors import InvalidRequest
from common.ops import context
from generations.api.errors import MethodNotAllowed, NotFound, PayloadTooLarge, error_response
from generations.api.serializers import ImageCall, parse_json, parse_multipart

View = Callable[..., Awaitable[HttpResponseBase]]
# What urls.py sees: django-stubs types path() views as sync callables.
Routed = Callable[..., Any]


def endpoint(*methods: str) -> Callable[[View], Routed]:
    def decorate(view: View) -> Routed:
        @csrf_exempt  # bearer keys, no cookies: CSRF does not apply
        @wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                if request.method not in methods:
                    raise MethodNotAllowed(f"Use {' or '.join(methods)} here.")
                response = await view(request, *args, **kwargs)
            except Http404:
                response = error_response(NotFound("Not found.", code="not_found"))
            except Exception as exc:
                response = error_response(exc)
            response["x-request-id"] = new_request_id()
            return response

        return wrapper

    return decorate


def page(view: Callable[..., HttpResponseBase]) -> Routed:
    """A plain GET page under /v1 (docs, schema): any other method is the 405 envelope."""

    @csrf_exempt  # so a POST meets the 405 envelope, not the CSRF failure page
    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponseBase:
        if request.method in ("GET", "HEAD"):
            response = view(request)
        else:
            response = error_response(MethodNotAllowed("Use GET or HEAD here."))
        response["x-request-id"] = new_request_id()
        return response

    return wrapper


def new_request_id() -> str:
    # The id config.ops' middleware bound for this request (the caller's or a fresh one).
    return context.get("request_id") or context.new_request_id()


@endpoint("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
async def not_found(request: HttpRequest, rest: str = "") -> HttpResponseBase:  # noqa: ARG001
    raise NotFound(f"Unknown API path: {request.method} {request.path}")


def parse_request(request: HttpRequest) -> ImageCall:
    """The body as an ImageCall; call from a thread (multipart parsing writes temp files)."""
    try:
        content_type = request.content_type or ""
        if content_type.startswith("multipart/"):
            return parse_multipart(request.POST, request.FILES, path=request.path)
        if content_type in ("application/json", "", "text/plain"):
            return parse_json(request.body, path=request.path)
    except RequestDataTooBig:
        raise PayloadTooLarge("The request body is too large.") from None
    except TooManyFilesSent:
        raise InvalidRequest(
            f"The request carries more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files.",
            param="image",
            code="invalid_image_count",
        ) from None
    except TooManyFieldsSent:
        raise InvalidRequest(
            f"The request carries more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields.",
            code="invalid_body",
        ) from None
    except MultiPartParserError as exc:
        raise InvalidRequest(
            f"The multipart body is malformed: {exc}", code="invalid_body"
        ) from None
    raise InvalidRequest(
        f"Send application/json or multipart/form-data, not {request.content_type}.",
        code="unsupported_content_type",
    )


def wants_async(request: HttpRequest) -> bool:
    prefer = request.headers.get("Prefer", "").lower()
    return "respond-async" in prefer or request.GET.get("async", "").lower() in ("true", "1")


def sdk_retry_count(request: HttpRequest) -> int | None:
    """The official SDK's `x-stainless-retry-count` (0 first, then 1, 2...), or None.

    The SDK sends no idempotency header of its own; this count is what marks a
    retry of the same call (see api.services).
    """
    value = request.headers.get("x-stainless-retry-count", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 6 else None
