"""What a locked-out sign-in sees: the sign-in page, saying why and for how long."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts.forms import LoginForm


def lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    minutes = max(1, round(float(settings.AXES_COOLOFF_TIME) * 60))
    message = _(
        "Too many failed sign-ins for this account or from this address. "
        "Sign-in is paused for %(minutes)s minutes; an admin can lift it sooner."
    ) % {"minutes": minutes}
    return render(
        request,
        "registration/login.html",
        {"lockout_message": message, "form": LoginForm(request), **login_context()},
        status=429,
    )


def login_context() -> dict[str, Any]:
    """What the sign-in page needs to know about the ways to sign in."""
    return {
        "sso_name": settings.DARKROOM_OIDC_NAME if settings.DARKROOM_OIDC_ISSUER else "",
        "password_login": settings.DARKROOM_PASSWORD_LOGIN,
        "signup_open": settings.DARKROOM_SIGNUP in {"open", "domains"},
    }
