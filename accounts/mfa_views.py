"""Two-factor pages: the second sign-in step, and setting up or turning off an app."""

from __future__ import annotations

import segno
from allauth.socialaccount.models import SocialAccount
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import mfa
from .models import User


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def verify(request: HttpRequest) -> HttpResponse:
    """Step two of signing in: the code from the person's app."""
    if mfa.pending_user(request) is None and mfa.step_up_user(request) is None:
        return redirect("login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if mfa.finish_second_step(request, form.cleaned_data["code"]):
            return redirect(_next(request))
        form.add_error("code", _("That code is not right (or was used already). Try the next one."))
    return render(request, "registration/mfa_verify.html", {"form": form, "next": _next(request)})


@login_required
def manage(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app, or turn two-factor off."""
    user = request.user
    assert isinstance(user, User)
    form = CodeForm(request.POST or None)
    enabled = mfa.needs_second_step(user)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        done = mfa.disable(user, code) if enabled else mfa.confirm_device(request, user, code)
        if done:
            return redirect("mfa")
        form.add_error("code", _("That code is not right. Check the app's clock and try again."))
    context = {"form": form, "enabled": enabled, "required": request.GET.get("required")}
    if not enabled:
        device = mfa.setup_device(user)
        context["qr"] = mark_safe(segno.make(device.config_url).svg_inline(scale=4))  # noqa: S308
        context["secret"] = _base32(device.bin_key)
    context["staff_must"] = settings.DARKROOM_STAFF_MFA and user.is_staff
    context["sso_name"] = settings.DARKROOM_OIDC_NAME if settings.DARKROOM_OIDC_ISSUER else ""
    context["sso_linked"] = SocialAccount.objects.filter(user=user).exists()
    return render(request, "registration/mfa.html", context)


def _base32(key: bytes) -> str:
    from base64 import b32encode

    return b32encode(key).decode().rstrip("=")


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or settings.LOGIN_REDIRECT_URL
    safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    return target if safe else settings.LOGIN_REDIRECT_URL
