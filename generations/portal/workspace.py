"""The generate page's team tools: presets (use one, save one) and "Compare" (one prompt
on several models). Kept apart from views.py so the plain generate flow stays as it was."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from common.errors import DarkroomError
from generations.models import Generation
from generations.portal.forms import GenerateForm, model_choices
from generations.portal.preset_picker import picker_options
from generations.portal.text import error_text
from generations.services import generation_create
from presets.models import Preset
from presets.selectors import preset_for
from presets.services import fill_template, preset_create
from presets.sharing import EVERYONE, PRIVATE
from providers.catalog import ModelSpec, get_catalog
from providers.labels import model_label

MIN_COMPARE, MAX_COMPARE = 2, 4


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


class CompareForm(forms.Form):
    prompt = forms.CharField(label=gettext_lazy("Prompt"), widget=forms.Textarea(attrs={"rows": 3}))
    models = forms.MultipleChoiceField(
        label=gettext_lazy("Models (2 to 4)"), widget=forms.CheckboxSelectMultiple
    )
    image_url = forms.URLField(
        assume_scheme="https",
        label=gettext_lazy("Reference image URL"),
        required=False,
        help_text=gettext_lazy("Sent to each model that takes a reference image."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["models"]).choices = model_choices()

    def clean_models(self) -> list[str]:
        chosen = cast(list[str], self.cleaned_data["models"])
        if not MIN_COMPARE <= len(chosen) <= MAX_COMPARE:
            raise forms.ValidationError(_("Choose 2 to 4 models."))
        return chosen


@dataclass(frozen=True)
class Refusal:
    model: str
    label: str
    reason: str


@login_required
def compare(request: HttpRequest) -> HttpResponse:
    form = CompareForm(request.POST or None, initial={"prompt": request.GET.get("prompt", "")})
    if request.method == "POST" and form.is_valid():
        comparison = uuid.uuid4()
        refusals = compare_submit(
            user=_user(request),
            comparison=comparison,
            prompt=form.cleaned_data["prompt"],
            models=form.cleaned_data["models"],
            image_url=form.cleaned_data["image_url"],
        )
        request.session[f"refused-{comparison}"] = [r.__dict__ for r in refusals]
        return redirect("compare_detail", pk=comparison)
    status = 400 if form.errors else 200
    return render(request, "generations/compare.html", {"form": form}, status=status)


def compare_submit(
    *, user: User, comparison: uuid.UUID, prompt: str, models: list[str], image_url: str
) -> list[Refusal]:
    """Each model's own job, charged to its own quota; a refused one says why and the
    others still go."""
    refusals: list[Refusal] = []
    for name in models:
        spec = get_catalog().get(name)
        if spec is None:
            continue
        try:
            generation_create(
                user=user,
                model=name,
                prompt=prompt,
                params={},
                images=_references(spec, image_url),
                extra={"comparison": comparison},
            )
        except DarkroomError as exc:
            refusals.append(Refusal(name, model_label(name), error_text(exc, spec)))
    return refusals


def _references(spec: ModelSpec, image_url: str) -> dict[str, list[Any]]:
    if not image_url:
        return {}
    return {p.name: [image_url] for p in spec.image_params if p.name in ("image", "images")}


@login_required
@require_GET
def compare_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    jobs = list(
        Generation.objects.filter(user=_user(request), comparison=pk)
        .prefetch_related("images")
        .order_by("created_at")
    )
    refused = request.session.get(f"refused-{pk}", [])
    if not jobs and not refused:
        raise Http404("No such comparison.")
    context = {"jobs": jobs, "refused": refused, "prompt": jobs[0].prompt if jobs else ""}
    return render(request, "generations/compare_detail.html", context)
