"""The portal's own 404 page even with DEBUG on (the demo runs that way).

Django answers an unknown URL or an `Http404` with its yellow technical page when
DEBUG is true, and `handler404` is only consulted when it is false. A person
trying the demo should meet the portal's page either way, so with DEBUG on this
replaces any HTML 404 that isn't the portal's own. API errors (JSON) pass as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.decorators import sync_and_async_middleware


def _is_technical_404(response: HttpResponseBase) -> bool:
    return (
        settings.DEBUG
        and response.status_code == 404
        and response.get("Content-Type", "").startswith("text/html")
        and not getattr(response, "portal_page", False)
    )


def _portal_404(request: HttpRequest) -> HttpResponseBase:
    response = TemplateResponse(request, "404.html", status=404).render()
    response.portal_page = True  # type: ignore[attr-defined]
    return response


@sync_and_async_middleware
def portal_not_found(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):

        async def amiddleware(request: HttpRequest) -> HttpResponseBase:
            response = await get_response(request)
            if _is_technical_404(response):
                # Rendering reads the session and user: database work, so off the loop.
                return await sync_to_async(_portal_404)(request)
            return response

        return amiddleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        return _portal_404(request) if _is_technical_404(response) else response

    return middleware
