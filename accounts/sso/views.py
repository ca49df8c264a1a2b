"""allauth's OIDC login and callback, with a clear page when the provider can't be reached.

allauth fetches the provider's discovery document when the button is pressed; a
provider that is down would otherwise surface as a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import requests
from allauth.socialaccount.providers.openid_connect import views as oidc
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.sso.adapter import sso_error

log = logging.getLogger(__name__)


@require_POST
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    return _dance(oidc.login, request, provider_id)


def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    return _dance(oidc.callback, request, provider_id)


def _dance(
    view: Callable[..., HttpResponse], request: HttpRequest, provider_id: str
) -> HttpResponse:
    """Run one of allauth's OIDC views; a provider that can't be reached gets a clear page."""
    if not settings.DARKROOM_OIDC_ISSUER:
        raise Http404
    try:
        return view(request, provider_id)
    except (requests.RequestException, ValueError, KeyError) as exc:
        log.warning("identity provider unreachable or failing: %s", exc)
        return _provider_down(request)


def inactive(request: HttpRequest) -> HttpResponse:
    return sso_error(
        request, _("This account is deactivated. Ask an admin if you need it back."), status=403
    )


def _provider_down(request: HttpRequest) -> HttpResponse:
    message = _(
        "%(name)s can't be reached right now, so you can't sign in with it. "
        "Try again in a few minutes; if it persists, tell an admin."
    ) % {"name": settings.DARKROOM_OIDC_NAME}
    return sso_error(request, message, status=503)
