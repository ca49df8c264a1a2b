"""Two-factor pages: the second sign-in step, and setting up or turning off an app."""

from __future__ import annotations

import math

import segno
from allauth.socialaccount.models import SocialAccount
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa
from accounts.audit import audit_person
from accounts.models import User


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _wait_seconds(user: User, *, confirmed: bool) -> int:
    """How long django-otp's throttle refuses every code (right ones too) after a wrong
    one: 0 when a code would be checked now."""
    now = timezone.now()
    waits = [0]
    for device in TOTPDevice.objects.filter(user=user, confirmed=confirmed):
        allowed, data = device.verify_is_allowed()
        until = (data or {}).get("locked_until")
        if not allowed and until is not None:
            waits.append(math.ceil((until - now).total_seconds()))
    return max(waits)


def _refuse(form: CodeForm, user: User, *, confirmed: bool, wrong: str) -> None:
    """Say the code was wrong, and when the next one will be looked at."""
    wait = _wait_seconds(user, confirmed=confirmed)
    if wait > 0:
        wrong += " " + ngettext(
            "Wait %(n)s second before the next try: until then every code is refused.",
            "Wait %(n)s seconds before the next try: until then every code is refused.",
            wait,
        ) % {"n": wait}
    form.add_error("code", wrong)


def _throttled(form: CodeForm, user: User, *, confirmed: bool) -> bool:
    """True (and the form says how long to wait) while the throttle would refuse any code:
    a right code sent too soon must not read as a wrong one."""
    wait = _wait_seconds(user, confirmed=confirmed)
    if wait > 0:
        form.add_error(
            "code",
            ngettext(
                "A wrong code pauses checking: wait %(n)s second, "
                "then enter your app's current code.",
                "A wrong code pauses checking: wait %(n)s seconds, "
                "then enter your app's current code.",
                wait,
            )
            % {"n": wait},
        )
    return wait > 0


def verify(request: HttpRequest) -> HttpResponse:
    """Step two of signing in: the code from the person's app."""
    user = mfa.pending_user(request) or mfa.step_up_user(request)
    if user is None:
        return redirect("login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and not _throttled(form, user, confirmed=True):
        if mfa.finish_second_step(request, form.cleaned_data["code"]):
            return redirect(_next(request))
        wrong = _("That code is not right (or was used already). Try the next one.")
        _refuse(form, user, confirmed=True, wrong=wrong)
    return render(request, "registration/mfa_verify.html", {"form": form, "next": _next(request)})


@login_required
def manage(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app, or turn two-factor off (which takes a current code)."""
    user = request.user
    assert isinstance(user, User)
    form = CodeForm(request.POST or None)
    enabled = mfa.needs_second_step(user)
    posted = request.method == "POST" and form.is_valid()
    if posted and not _throttled(form, user, confirmed=enabled):
        if _switch(request, user, form.cleaned_data["code"], enabled=enabled):
            return redirect(reverse("mfa") + ("?off=1" if enabled else ""))
        wrong = _("That code is not right. Check the app's clock and try again.")
        _refuse(form, user, confirmed=enabled, wrong=wrong)
    context = {"form": form, "enabled": enabled, "required": request.GET.get("required")}
    # Just turned off: say so, and make no new secret until the person asks for one.
    context["just_off"] = not enabled and request.GET.get("off") == "1"
    if not enabled and not context["just_off"]:
        device = mfa.setup_device(user)
        context["qr"] = mark_safe(segno.make(device.config_url).svg_inline(scale=4))  # noqa: S308
        context["secret"] = _base32(device.bin_key)
    context["staff_must"] = settings.DARKROOM_STAFF_MFA and user.is_staff
    context["sso_name"] = settings.DARKROOM_OIDC_NAME if settings.DARKROOM_OIDC_ISSUER else ""
    context["sso_linked"] = SocialAccount.objects.filter(user=user).exists()
    return render(request, "registration/mfa.html", context)


def _switch(request: HttpRequest, user: User, code: str, *, enabled: bool) -> bool:
    """Turn two-factor off (enabled) or on; audited, and said on the next page."""
    if enabled:
        if not mfa.disable(user, code):
            return False
        audit_person(action="two-factor off", user=user, actor=user)
        return True
    if not mfa.confirm_device(request, user, code):
        return False
    audit_person(action="two-factor on", user=user, actor=user)
    messages.success(request, _("Two-factor sign-in is on."))
    return True


def _base32(key: bytes) -> str:
    from base64 import b32encode

    return b32encode(key).decode().rstrip("=")


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or settings.LOGIN_REDIRECT_URL
    safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    return target if safe else settings.LOGIN_REDIRECT_URL
