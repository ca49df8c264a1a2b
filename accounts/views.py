"""Account pages on Django's own auth views (see accounts/urls.py for why),
plus signup under the DARKROOM_SIGNUP policy and staff-made invite links."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from accounts import confirmation, mfa
from accounts.forms import InviteForm, LoginForm, SignupForm
from accounts.invites import invite_email, invite_token
from accounts.lockout import login_context
from accounts.models import GroupPool, User
from accounts.quota.pools import pool_left


def signup(request: HttpRequest) -> HttpResponse:
    policy = settings.DARKROOM_SIGNUP
    if policy == "closed":
        raise Http404
    invited = None
    if policy == "invite":
        invited = invite_email(request.GET.get("invite", ""))
        if invited is None:
            return render(request, "registration/invite_invalid.html", status=403)
    if request.method == "POST":
        confirmation.forget_expired_signups(
            email=request.POST.get("email", ""), username=request.POST.get("username", "")
        )
    form = SignupForm(request.POST or None, invited_email=invited)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        if invited:  # the invite link was sent to this address by staff: it is proven
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(settings.LOGIN_REDIRECT_URL)
        confirmation.signup_unconfirmed(user=user)
        confirmation.send_confirmation(request, user)
        return render(request, "registration/signup_sent.html", {"email": user.email})
    return render(request, "registration/signup.html", {"form": form, "policy": policy})


def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the confirmation mail: the account works from now on. It signs no
    one in; the sign-in form does that, by the same rules as every sign-in."""
    if confirmation.confirm(token) is None:
        return render(request, "registration/signup_confirm_invalid.html", status=400)
    messages.success(request, _("Your address is confirmed. Sign in to start."))
    return redirect("login")


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


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's sign-in URL: the portal's form, which applies the sign-in rules. Someone
    signed in who is not staff is refused here (the form would send them straight back)."""
    if request.user.is_authenticated:
        if not request.user.is_staff:
            raise PermissionDenied
        return redirect("admin:index")
    query = request.META.get("QUERY_STRING", "")
    return redirect(f"{reverse('login')}?{query}" if query else reverse("login"))


class PasswordResetView(auth_views.PasswordResetView):
    """No password reset where password sign-in is off (the break-glass account is
    reset by an operator: manage.py changepassword)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.DARKROOM_PASSWORD_LOGIN:
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A reset link sets a password and signs no one in: the person then signs in on the
    portal's form, second factor and all. A link sent before password sign-in was
    switched off no longer sets anything."""

    post_reset_login = False

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
