"""The generate page's presets (use one, save one); "Compare" lives in portal.compare.
Kept apart from views.py so the plain generate flow stays as it was."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from common.errors import DarkroomError
from generations.portal.forms import GenerateForm
from generations.portal.preset_picker import picker_options
from presets.models import Preset
from presets.selectors import preset_for
from presets.services import fill_template, preset_create
from presets.sharing import EVERYONE, PRIVATE
from providers.catalog import get_catalog


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def preset_initial(user: User, query: QueryDict) -> tuple[dict[str, Any], Preset | None]:
    """The generate form's starting values from `?preset=` or a remix's `?model=&prompt=`."""
    if query.get("preset"):
        try:
            preset = preset_for(user, query["preset"])
        except DarkroomError:
            return {}, None
        return {**preset.params, "model": preset.model, "prompt": preset.template}, preset
    if "prompt" in query:
        return {key: query[key] for key in query if key not in ("reuse", "seed")}, None
    return {}, None


def picker_context(user: User, preset: Preset | None, words: str = "") -> dict[str, Any]:
    return {
        **picker_options(user, words),
        "preset": preset,
        "share_choices": share_choices(user),
    }


def share_choices(user: User) -> list[tuple[str, str]]:
    groups = [(f"group:{g.name}", g.name) for g in user.groups.order_by("name")]
    return [(PRIVATE, _("Only me")), *groups, (EVERYONE, _("Everyone"))]


def prompt_with_slots(user: User, post: QueryDict) -> tuple[str, Preset | None]:
    """The posted prompt with a chosen preset's slots filled from `slot_<name>` fields."""
    prompt = post.get("prompt", "")
    if not post.get("preset"):
        return prompt, None
    preset = preset_for(user, post["preset"])
    values = {key[5:]: value for key, value in post.items() if key.startswith("slot_")}
    return fill_template(prompt, values), preset


@login_required
@require_POST
def preset_save(request: HttpRequest) -> HttpResponse:
    """ "Save as preset" on the generate form (also reached from any image's Remix)."""
    spec = get_catalog().get(request.POST.get("model", ""))
    form = GenerateForm(spec, request.POST) if spec else None
    if spec is None or form is None or not form.is_valid():
        messages.error(request, _("Fill in the form before saving it as a preset."))
        return redirect("generate")
    share = request.POST.get("preset_share", PRIVATE)
    shared_with: Any = [share.removeprefix("group:")] if share.startswith("group:") else share
    try:
        preset = preset_create(
            owner=_user(request),
            name=request.POST.get("preset_name", ""),
            model=spec.name,
            template=form.cleaned_data["prompt"],
            params={k: v for k, v in form.params().items() if k != "seed"},
            shared_with=shared_with,
        )
    except DarkroomError as exc:
        messages.error(request, exc.message)
        return redirect(f"{reverse('generate')}?model={spec.name}")
    messages.success(request, _("Preset “%(name)s” saved.") % {"name": preset.name})
    return redirect(f"{reverse('generate')}?preset={preset.pk}")
