"""The account's "Your data" page: storage used, how long images are kept, erasure."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import ErasureRequest, User
from accounts.policies import retention_days_for
from generations.erasure import erase_person, erasure_request
from generations.storage_use import storage_use


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    context = {
        "use": storage_use(user),
        "retention_days": retention_days_for(user),
        "self_erasure": settings.DARKROOM_SELF_ERASURE == "self",
        "open_request": ErasureRequest.objects.filter(user=user, done_at__isnull=True).first(),
    }
    return render(request, "accounts/my_data.html", context)


@login_required
@require_POST
def my_data_erase(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    if request.POST.get("confirm", "").strip() != user.get_username():
        messages.error(request, _("Type your username to confirm; nothing was deleted."))
        return redirect("my_data")
    if settings.DARKROOM_SELF_ERASURE == "self":
        erase_person(actor=user, user=user, reason="the person's own request")
        logout(request)
        messages.success(request, _("Your data was erased and your account closed."))
        return redirect("login")
    erasure_request(user=user)
    messages.success(request, _("Your request was sent: an administrator will erase your data."))
    return redirect("my_data")
