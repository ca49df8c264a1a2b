"""Account pages on Django's own auth views (see accounts/urls.py for why),
plus signup under the DARKROOM_SIGNUP policy and staff-made invite links."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from . import mfa
from .forms import InviteForm, LoginForm, SignupForm
from .invites import invite_email, invite_token
from .lockout import login_context
from .models import GroupPool, User
from .quota.pools import pool_left


def signup(request: HttpRequest) -> HttpResponse:
    policy = settings.DARKROOM_SIGNUP
    if policy == "closed":
        raise Http404
    invited = None
    if policy == "invite":
        invited = invite_email(request.GET.get("invite", ""))
        if invited is None:
            return render(request, "registration/invite_invalid.html", status=403)
    form = SignupForm(request.POST or None, invited_email=invited)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form, "policy": policy})


@staff_member_required
def invite(request: HttpRequest) -> HttpResponse:
    if settings.DARKROOM_SIGNUP != "invite":
        raise Http404
    form = InviteForm(request.POST or None)
    link = None
    if request.method == "POST" and form.is_valid():
        token = invite_token(form.cleaned_data["email"])
        link = request.build_absolute_uri(f"{reverse('signup')}?invite={token}")
    return render(request, "registration/invite.html", {"form": form, "link": link})


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True
    authentication_form = LoginForm

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if not mfa.needs_second_step(user):
            return super().form_valid(form)
        mfa.start_second_step(self.request, user)
        return redirect(f"{reverse('mfa_verify')}?{urlencode({'next': self.get_success_url()})}")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **login_context()}


class PasswordResetView(auth_views.PasswordResetView):
    """No password reset where password sign-in is off (the break-glass account is
    reset by an operator: manage.py changepassword)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.DARKROOM_PASSWORD_LOGIN:
            raise Http404
        return super().dispatch(request, *args, **kwargs)


@login_required
def usage(request: HttpRequest) -> HttpResponse:
    """The person's own images per model: which limit applies, and the pools they share."""
    user = request.user
    assert isinstance(user, User)
    pools = [
        {"pool": pool, "left": pool_left(pool)}
        for pool in GroupPool.objects.filter(group__user=user).select_related("group")
    ]
    return render(request, "accounts/usage.html", {"pools": pools})
