"""/v1 through the deployed ASGI application: its own lean middleware, the rest unchanged.

The test client runs Django's full MIDDLEWARE; uvicorn runs `config.asgi:application`,
which hands /v1 to generations.api.asgi.ApiHandler. These requests go through that.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _get(path: str, **headers: str) -> httpx.Response:
    from config.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path, headers=headers)


async def test_api_answers_keep_the_envelope_request_id_and_security_headers() -> None:
    response = await _get("/v1/models")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_api_answers_skip_the_portals_session_and_page_middleware() -> None:
    response = await _get("/v1/models", Authorization="Bearer dr-nope.nope")
    assert response.status_code == 401
    assert "set-cookie" not in response.headers  # no session, no CSRF cookie
    assert "content-security-policy" not in response.headers  # a page header, not JSON's
    assert "vary" not in response.headers  # nothing varies by cookie or language


async def test_portal_pages_keep_the_whole_middleware() -> None:
    response = await _get("/accounts/login/")
    assert response.status_code == 200
    assert "content-security-policy" in response.headers
    assert "csrftoken" in response.headers.get("set-cookie", "")
    assert response.headers["x-frame-options"] == "DENY"


async def test_an_unknown_api_path_is_a_json_404() -> None:
    response = await _get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["message"]


async def _through(middleware: type, request: Any) -> Any:
    from django.http import JsonResponse

    async def view(request: Any) -> Any:
        return JsonResponse({"ok": True})

    return await middleware(view)(request)


async def test_the_inline_security_middleware_sets_what_djangos_sets(settings: Any) -> None:
    from django.middleware.security import SecurityMiddleware
    from django.test import RequestFactory

    from common.security_middleware import InlineSecurityMiddleware

    settings.SECURE_HSTS_SECONDS = 3600
    request = RequestFactory().get("/v1/models", secure=True)
    ours = await _through(InlineSecurityMiddleware, request)
    django = await _through(SecurityMiddleware, request)
    assert ours.headers == django.headers
    assert ours["Strict-Transport-Security"].startswith("max-age=3600")


async def test_the_inline_security_middleware_still_redirects_to_https(settings: Any) -> None:
    from django.test import RequestFactory

    from common.security_middleware import InlineSecurityMiddleware

    settings.SECURE_SSL_REDIRECT = True
    response = await _through(InlineSecurityMiddleware, RequestFactory().get("/v1/models"))
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/v1/models"
