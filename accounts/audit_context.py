"""Who is acting and from which address, for audit entries written deep in services.

The middleware puts the request in a context variable for the length of the request;
asgiref copies context into sync_to_async threads, so sync services see it too.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest
from django.utils.decorators import sync_and_async_middleware

from accounts.models import User

_request: ContextVar[HttpRequest | None] = ContextVar("darkroom_audit_request", default=None)


def current_user() -> User | None:
    request = _request.get()
    user = getattr(request, "user", None)
    return user if isinstance(user, User) and user.is_authenticated else None


def current_ip() -> str | None:
    request = _request.get()
    return request_ip(request) if request is not None else None


def request_ip(request: HttpRequest) -> str | None:
    # The same address django-axes counts lockouts by: REMOTE_ADDR only, which uvicorn's
    # proxy-headers middleware sets from X-Forwarded-For for DARKROOM_TRUSTED_PROXIES alone.
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None


@sync_and_async_middleware
def audit_context_middleware(get_response: Callable[[HttpRequest], Any]) -> Any:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> Any:
            token = _request.set(request)
            try:
                return await get_response(request)
            finally:
                _request.reset(token)

        return async_middleware

    def middleware(request: HttpRequest) -> Any:
        token = _request.set(request)
        try:
            return get_response(request)
        finally:
            _request.reset(token)

    return middleware
