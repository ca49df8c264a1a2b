"""The portal's own 404/403/500 pages, in both languages, with DEBUG on (the demo) and off."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.views import defaults

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_address_shows_the_portal_404(
    client: Client, settings: Any, debug: bool
) -> None:
    settings.DEBUG = debug
    response = client.get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "This page does not exist" in html
    assert 'class="topbar"' in html
    assert "Django tried these URL patterns" not in html
    zh = client.get("/no/such/page/", **ZH).content.decode()
    assert "页面不存在" in zh
    assert 'lang="zh-hans"' in zh


def test_closed_signup_shows_the_portal_404_in_the_demo(client: Client, settings: Any) -> None:
    settings.DEBUG = True
    settings.DARKROOM_SIGNUP = "closed"
    response = client.get("/accounts/signup/")
    assert response.status_code == 404
    assert "This page does not exist" in response.content.decode()


def test_api_errors_keep_their_json_envelope_in_the_demo(client: Client, settings: Any) -> None:
    settings.DEBUG = True
    response = client.get("/v1/models/no-such-model", HTTP_AUTHORIZATION="Bearer nope")
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json()


def test_a_missing_slash_still_redirects(client: Client, settings: Any) -> None:
    settings.DEBUG = True
    assert client.get("/history").status_code == 301


def test_it_has_its_own_403_and_500_pages(user: Any) -> None:
    request = RequestFactory().get("/somewhere/")
    request.user = user
    forbidden = defaults.permission_denied(request, PermissionDenied())
    assert forbidden.status_code == 403
    assert "You can't open this page" in forbidden.content.decode()
    broken = defaults.server_error(request)
    assert broken.status_code == 500
    assert "Something went wrong on our side" in broken.content.decode()
    from django.utils import translation

    with translation.override("zh-hans"):
        assert "服务器出了问题" in defaults.server_error(request).content.decode()
        assert (
            "你无法打开此页面"
            in defaults.permission_denied(request, PermissionDenied()).content.decode()
        )
