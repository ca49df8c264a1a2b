"""Who may sign in through the identity provider, whatever the local signup policy."""

from __future__ import annotations

from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import render
from django.utils.translation import gettext as _


def sso_email(sociallogin: Any) -> str:
    """The e-mail the provider gave, lower-cased ("" if none)."""
    addresses = [a.email for a in sociallogin.email_addresses if a.email]
    return (addresses[0] if addresses else sociallogin.user.email or "").strip().lower()


def domain_allowed(email: str) -> bool:
    allowed = settings.DARKROOM_OIDC_ALLOWED_DOMAINS
    return not allowed or email.rsplit("@", 1)[-1] in allowed


class SsoAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        # The identity provider vouches for its people; DARKROOM_SIGNUP governs only
        # local accounts. DARKROOM_OIDC_ALLOWED_DOMAINS narrows it (checked below).
        return True

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        email = sso_email(sociallogin)
        if not email or not domain_allowed(email):
            message = _(
                "%(email)s can't sign in to Darkroom: only addresses at %(domains)s may."
            ) % {
                "email": email or _("An account without an e-mail address"),
                "domains": ", ".join(settings.DARKROOM_OIDC_ALLOWED_DOMAINS) or "-",
            }
            raise ImmediateHttpResponse(sso_error(request, message, status=403))


def sso_error(request: HttpRequest, message: str, *, status: int) -> Any:
    return render(
        request,
        "registration/sso_error.html",
        {"message": message, "provider_name": settings.DARKROOM_OIDC_NAME},
        status=status,
    )
