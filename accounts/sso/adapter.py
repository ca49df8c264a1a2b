"""Who may sign in through the identity provider, and which local account they reach.

Linking by e-mail (SOCIALACCOUNT_EMAIL_AUTHENTICATION) is allauth's; here it is narrowed:
only a provider-verified address, and never to a staff, superuser or break-glass
account (a staff member links their identity while signed in, by their own action:
the "Link single sign-on" button posts with process=connect). A self-signup that never
confirmed its address is not the address's owner: it is removed, not merged.
"""

from __future__ import annotations

from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.confirmation import forget_unconfirmed
from accounts.models import User
from accounts.signin import is_break_glass


def verified_emails(sociallogin: Any) -> list[str]:
    """The addresses the provider says it verified, lower-cased."""
    return [a.email.strip().lower() for a in sociallogin.email_addresses if a.email and a.verified]


def sso_email(sociallogin: Any) -> str:
    """The e-mail the provider gave, lower-cased ("" if none)."""
    addresses = [a.email for a in sociallogin.email_addresses if a.email]
    return (addresses[0] if addresses else sociallogin.user.email or "").strip().lower()


def domain_allowed(email: str) -> bool:
    allowed = settings.DARKROOM_OIDC_ALLOWED_DOMAINS
    return not allowed or email.rsplit("@", 1)[-1] in allowed


def privileged(user: Any) -> bool:
    return bool(user.is_staff or user.is_superuser or is_break_glass(user))


class SsoAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:  # noqa: ARG002
        # The identity provider vouches for its people; DARKROOM_SIGNUP governs only
        # local accounts. DARKROOM_OIDC_ALLOWED_DOMAINS narrows it (checked below).
        return True

    def authenticate_by_email(self, sociallogin: Any) -> tuple[Any, str] | None:
        for email in verified_emails(sociallogin):
            forget_unconfirmed(email)
        found = super().authenticate_by_email(sociallogin)
        if found is not None and privileged(found[0]):
            return None  # refused with a clear page in pre_social_login
        return found

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        _check_domain(request, sociallogin)
        linking = sociallogin.state.get("process") == "connect"  # signed in, their own action
        if not linking and not sociallogin.is_existing:
            _refuse_privileged_match(request, sociallogin)

    def get_connect_redirect_url(self, request: HttpRequest, socialaccount: Any) -> str:  # noqa: ARG002
        return reverse("mfa")


def _check_domain(request: HttpRequest, sociallogin: Any) -> None:
    """Someone with an address comes in; with an allow-list, only by an address the
    provider verified (an unverified claim is whatever the person typed there)."""
    restricted = bool(settings.DARKROOM_OIDC_ALLOWED_DOMAINS)
    emails = verified_emails(sociallogin) if restricted else [sso_email(sociallogin)]
    if any(e and domain_allowed(e) for e in emails):
        return
    shown = sso_email(sociallogin)
    message = _("%(email)s can't sign in to Darkroom: only addresses at %(domains)s may.") % {
        "email": shown or _("An account without an e-mail address"),
        "domains": ", ".join(settings.DARKROOM_OIDC_ALLOWED_DOMAINS) or "-",
    }
    raise ImmediateHttpResponse(sso_error(request, message, status=403))


def _refuse_privileged_match(request: HttpRequest, sociallogin: Any) -> None:
    """A new identity whose address a staff account holds: that account is not taken over."""
    holders = User.objects.none()
    for email in verified_emails(sociallogin):
        holders |= User.objects.filter(email__iexact=email)
    if not any(privileged(user) for user in holders):
        return
    message = _(
        "This address belongs to a staff account, which single sign-on never signs in "
        "by itself. Sign in to it with its password and two-factor code, then link "
        "%(name)s from the Two-factor sign-in page."
    ) % {"name": settings.DARKROOM_OIDC_NAME}
    raise ImmediateHttpResponse(sso_error(request, message, status=403))


def sso_error(request: HttpRequest, message: str, *, status: int) -> Any:
    return render(
        request,
        "registration/sso_error.html",
        {"message": message, "provider_name": settings.DARKROOM_OIDC_NAME},
        status=status,
    )
