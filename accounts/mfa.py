"""Two-factor sign-in with a TOTP app for local accounts (django-otp).

A person with a confirmed TOTP device signs in in two steps: the password (the portal's
view) puts them in `mfa_pending`, the code from their app signs them in. Whatever way a
session was signed in, the middleware below holds it to accounts.signin's rules: a
person with a device who has not given its code in this session is asked for it (a
step-up), and under DARKROOM_STAFF_MFA staff without a device are sent to set one up,
unless the identity provider vouched for a second factor.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.signin import has_second_factor, second_factor_step

PENDING = "mfa_pending"  # session: (user id, auth backend) awaiting the second step


def needs_second_step(user: User) -> bool:
    return has_second_factor(user)


def start_second_step(request: HttpRequest, user: Any) -> None:
    request.session[PENDING] = [user.pk, user.backend]


def pending_user(request: HttpRequest) -> User | None:
    pending = request.session.get(PENDING)
    if not pending:
        return None
    user = User.objects.filter(pk=pending[0], is_active=True).first()
    if user is not None:
        # login() reads the backend the password check chose (django-stubs 5.2 omit the attribute).
        user.backend = pending[1]  # type: ignore[attr-defined]
    return user


def step_up_user(request: HttpRequest) -> User | None:
    """A signed-in person who still owes their code (signed in by another way in)."""
    if second_factor_step(request) != "verify":
        return None
    user = request.user
    return user if isinstance(user, User) else None


def finish_second_step(request: HttpRequest, code: str) -> bool:
    """Check the code against the pending person's devices; sign them in if it fits."""
    user = pending_user(request)
    if user is None:
        return _finish_step_up(request, code)
    device = _matching_device(user, code)
    if device is None:
        return False
    del request.session[PENDING]
    login(request, user)
    otp_login(request, device)
    return True


def _finish_step_up(request: HttpRequest, code: str) -> bool:
    user = step_up_user(request)
    device = _matching_device(user, code) if user is not None else None
    if device is None:
        return False
    otp_login(request, device)
    return True


def setup_device(user: User) -> TOTPDevice:
    """The person's unconfirmed device being set up (made once, kept until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def confirm_device(request: HttpRequest, user: User, code: str) -> bool:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None or not device.verify_token(code):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    otp_login(request, device)
    return True


def disable(user: User, code: str) -> bool:
    """Turn two-factor off; it takes a current code, so a stolen session can't."""
    if _matching_device(user, code) is None:
        return False
    TOTPDevice.objects.filter(user=user).delete()
    return True


def _matching_device(user: User, code: str) -> TOTPDevice | None:
    code = "".join(code.split())
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(code):
            return device
    return None


EXEMPT_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/static/", "/i18n/")


class StaffMfaMiddleware:
    """A signed-in session that still owes its second factor (accounts.signin) sees only
    the code page, or the set-up page for staff under DARKROOM_STAFF_MFA, and sign-out."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self._redirect(request) or self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/v1/"):  # the API authenticates by key, not session
            return await self.get_response(request)
        blocked = await sync_to_async(self._redirect)(request)
        return blocked or await self.get_response(request)

    def _redirect(self, request: HttpRequest) -> HttpResponse | None:
        if request.path.startswith(EXEMPT_PREFIXES):
            return None
        step = second_factor_step(request)
        if step == "verify":
            return redirect(f"{reverse('mfa_verify')}?{urlencode({'next': request.path})}")
        if step == "set_up":
            return redirect(f"{reverse('mfa')}?required=1")
        return None
