"""Portal pages for a person's API keys: list, create (shown once), revoke, and examples."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.api_keys.forms import ApiKeyForm
from accounts.api_keys.services import api_key_issue, api_key_revoke
from accounts.models import User
from accounts.selectors import api_keys_for
from accounts.webhooks import webhook_signing_secret
from common.errors import DarkroomError
from providers.catalog import get_catalog


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required
    return request.user


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            _row, new_key = api_key_issue(
                user=_user(request),
                name=form.cleaned_data["name"],
                expires_at=form.expires_at,
                allowed_models=form.cleaned_data["allowed_models"],
            )
        except DarkroomError as exc:
            form.add_error(None, exc.message)
        else:
            form = ApiKeyForm()
    base = (settings.DARKROOM_PUBLIC_URL or request.build_absolute_uri("/")).rstrip("/") + "/v1"
    return render(
        request,
        "accounts/api_keys.html",
        {
            "form": form,
            "new_key": new_key,
            "keys": api_keys_for(_user(request)),
            "base_url": base,
            "example_key": new_key or "YOUR_KEY",
            "example_model": next(iter(get_catalog().names())),
            "signing_secret": webhook_signing_secret(_user(request)),
        },
    )


@login_required
@require_POST
def api_key_revoke_view(request: HttpRequest, key_id: str) -> HttpResponse:
    if api_key_revoke(user=_user(request), key_id=key_id):
        messages.success(request, _("The key was revoked. Requests with it now fail."))
    return redirect("api_keys")
