"""The sign-in rules, in one place: every way in (the portal's form, the admin, a password
reset, single sign-on) asks these functions, and the middleware in accounts.mfa holds
every signed-in request to them.

- Password sign-in: allowed unless DARKROOM_PASSWORD_LOGIN is off; then only the
  break-glass account, and only while it is staff.
- Second factor: anyone with a confirmed authenticator app gives its code; staff give
  one (or set one up) under DARKROOM_STAFF_MFA. A single sign-on whose ID token says
  the provider did multi-factor (DARKROOM_OIDC_MFA_AMR / DARKROOM_OIDC_MFA_ACR) counts
  as the second factor; one that says nothing does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest
from django_otp import user_has_device

PROVIDER_MFA = "darkroom_sso_mfa"  # session: the identity provider vouched for a second factor
OWES_CODE = "darkroom_owes_code"  # session: the person had a confirmed app when signing in

Step = Literal["verify", "set_up"]


def is_break_glass(user: Any) -> bool:
    glass = settings.DARKROOM_BREAK_GLASS_USERNAME
    return bool(glass) and user.get_username() == glass


def password_allowed_for_username(username: str) -> bool:
    """Checked before the password, so a switched-off instance says why without checking it."""
    if settings.DARKROOM_PASSWORD_LOGIN:
        return True
    glass = settings.DARKROOM_BREAK_GLASS_USERNAME
    return bool(glass) and username == glass


def password_allowed(user: Any) -> bool:
    if settings.DARKROOM_PASSWORD_LOGIN:
        return True
    # The break-glass account exists for staff to repair single sign-on.
    return is_break_glass(user) and bool(user.is_staff)


def has_second_factor(user: Any) -> bool:
    return user_has_device(user, confirmed=True)


def provider_did_mfa(claims: dict[str, Any]) -> bool:
    """Whether the ID token's amr/acr say the provider checked a second factor."""
    amr = set(_as_list(claims.get("amr")))
    wanted_amr = set(settings.DARKROOM_OIDC_MFA_AMR)
    acr = str(claims.get("acr") or "")
    if "*" in wanted_amr:
        return True
    return bool(amr & wanted_amr) or (bool(acr) and acr in settings.DARKROOM_OIDC_MFA_ACR)


def _as_list(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def second_factor_step(request: HttpRequest) -> Step | None:
    """What a signed-in request still owes before any page: a code, a set-up, or nothing."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or _verified(user):
        return None
    if request.session.get(PROVIDER_MFA):
        return None
    if _owes_code(request, user):
        return "verify"
    if settings.DARKROOM_STAFF_MFA and user.is_staff:
        return "set_up"
    return None


@receiver(user_logged_in, dispatch_uid="signin_owes_code")
def _note_second_factor(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:  # noqa: ARG001
    """Looked up once per sign-in, however it happened, not on every request. A provider's
    word from an earlier sign-in in this session does not carry over (allauth's own
    user_logged_in, sent after this one, records it again for a single sign-on)."""
    if request is not None and hasattr(request, "session"):
        request.session[OWES_CODE] = has_second_factor(user)
        request.session.pop(PROVIDER_MFA, None)


def _owes_code(request: HttpRequest, user: Any) -> bool:
    owed = request.session.get(OWES_CODE)
    if owed is None:  # a session signed in before this rule existed
        owed = request.session[OWES_CODE] = has_second_factor(user)
    return bool(owed)


def _verified(user: Any) -> bool:
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())
