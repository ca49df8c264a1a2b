""" "Compare": one prompt (and its reference images) sent to 2-4 models at once, each with
its own settings as the catalog allows them, each charged to its own quota.

A model whose settings or quota refuse it says why; the others still go.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET

from accounts.models import User
from accounts.quota import quota_overview
from common.errors import DarkroomError, InvalidRequest
from generations.models import Generation
from generations.portal.forms import (
    ModelParamsForm,
    image_fields,
    image_inputs,
    model_choices,
    param_label,
)
from generations.portal.text import error_text, reference_error_text
from generations.references import LoadedImage, load_images
from generations.services import generation_create
from providers.catalog import ModelSpec, ParamSpec, get_catalog
from providers.labels import model_label

MIN_COMPARE, MAX_COMPARE = 2, 4
# The parameters a model takes its reference images through ("mask" is not one).
REFERENCE_PARAMS = ("image", "images")
# The settings shown beside each chosen model; the rest sit under "More settings".
COMPARE_PRIMARY = frozenset({"n", "size", "aspect_ratio"})
# Shown with each result, in this order, so the columns can be told apart.
SUMMARY_PARAMS = ("size", "aspect_ratio", "n", "steps", "guidance_scale")


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def references_param() -> ParamSpec:
    """The compare form's one reference input: as many images as any model takes."""
    most = max(
        (p.max_items for m in get_catalog().models.values() for p in m.image_params),
        default=1,
    )
    cap = min(most, settings.DARKROOM_MAX_REFERENCE_IMAGES)
    return ParamSpec(name="images", type="images", min_items=1, max_items=cap)


def params_prefix(model: str) -> str:
    """The form prefix of one model's settings (model names hold "/" and ".")."""
    return "m-" + re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")


class CompareForm(forms.Form):
    prompt = forms.CharField(label=gettext_lazy("Prompt"), widget=forms.Textarea(attrs={"rows": 3}))
    models = forms.MultipleChoiceField(
        label=gettext_lazy("Models (2 to 4)"), widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["models"]).choices = model_choices()
        self.references = references_param()
        self.fields.update(image_fields(self.references))
        self.fields["images"].help_text = gettext_lazy(
            "Sent to each model that takes reference images; the others get the prompt only."
        )

    def clean_models(self) -> list[str]:
        chosen = cast(list[str], self.cleaned_data["models"])
        if not MIN_COMPARE <= len(chosen) <= MAX_COMPARE:
            raise forms.ValidationError(_("Choose 2 to 4 models."))
        return chosen

    def load_references(self) -> list[LoadedImage] | None:
        """The reference images, read and checked once for every model (the generate
        page's own reader: size cap, URL guard, image check); None, with the error on
        the field, when one cannot be used."""
        p = self.references
        sources = image_inputs(self.cleaned_data, p.name)
        try:
            if len(sources) > p.max_items:
                raise InvalidRequest("Too many reference images.", code="invalid_image_count")
            return load_images({p.name: sources})[p.name]
        except DarkroomError as exc:
            self.add_error(p.name, reference_error_text(exc, p))
            return None


class CompareParamsForm(ModelParamsForm):
    """One chosen model's own settings (size, number of images, steps...)."""

    primary = COMPARE_PRIMARY


@dataclass(frozen=True)
class ModelChoice:
    """One model in the compare form: its checkbox, free images left and settings."""

    name: str
    label: str
    left: int | None  # None: unlimited
    option: Any  # the checkbox (a bound widget)
    form: CompareParamsForm
    takes_references: bool
    chosen: bool  # ticked in the posted form (the page shows its settings)


def model_choices_for(user: User, form: CompareForm, data: Any = None) -> list[ModelChoice]:
    catalog = get_catalog()
    options = {option.data["value"]: option for option in form["models"]}
    ticked = set(data.getlist("models")) if data is not None else set()
    return [
        ModelChoice(
            name=status.model,
            label=model_label(status.model),
            left=status.usable,
            option=options[status.model],
            form=CompareParamsForm(spec, data, prefix=params_prefix(spec.name)),
            takes_references=_reference_param(spec) is not None,
            chosen=status.model in ticked,
        )
        for status in quota_overview(user)
        if (spec := catalog.get(status.model)) is not None and status.model in options
    ]


@dataclass(frozen=True)
class Outcome:
    model: str
    label: str
    reason: str = ""  # why it was not sent; empty when it went
    note: str = ""  # what it made of the reference images


def compare_submit(
    *,
    user: User,
    comparison: uuid.UUID,
    prompt: str,
    chosen: list[ModelChoice],
    references: list[LoadedImage],
) -> list[Outcome]:
    """Each chosen model's own job, with its own settings, charged to its own quota."""
    outcomes = []
    for choice in chosen:
        spec = choice.form.spec
        label = model_label(spec.name)
        if not choice.form.is_valid():
            outcomes.append(Outcome(spec.name, label, reason=_settings_error(choice.form)))
            continue
        images, note = route_references(spec, references)
        try:
            generation_create(
                user=user,
                model=spec.name,
                prompt=prompt,
                params=choice.form.params(),
                images=images,
                extra={"comparison": comparison},
            )
        except DarkroomError as exc:
            outcomes.append(Outcome(spec.name, label, reason=_refusal(exc, spec)))
            continue
        outcomes.append(Outcome(spec.name, label, note=note))
    return outcomes


def _settings_error(form: CompareParamsForm) -> str:
    name, errors = next(iter(form.errors.items()))
    return _labelled(name, str(errors[0]))


def _refusal(exc: DarkroomError, spec: ModelSpec) -> str:
    """Why a model was refused; a setting's error names the setting."""
    text = error_text(exc, spec)
    p = spec.param(exc.param) if isinstance(exc, InvalidRequest) and exc.param else None
    return _labelled(p.name, text) if p is not None and not p.is_image else text


def _labelled(name: str, text: str) -> str:
    if name == NON_FIELD_ERRORS:
        return text
    return _("%(setting)s: %(error)s") % {"setting": param_label(name), "error": text}


def _reference_param(spec: ModelSpec) -> ParamSpec | None:
    return next((p for p in spec.image_params if p.name in REFERENCE_PARAMS), None)


def route_references(
    spec: ModelSpec, references: list[LoadedImage]
) -> tuple[dict[str, list[LoadedImage]], str]:
    """The reference images as this model takes them, and a note when it takes fewer."""
    if not references:
        return {}, ""
    p = _reference_param(spec)
    if p is None:
        return {}, _("This model takes no reference images: it got the prompt only.")
    keep = 1 if p.type == "image" else p.max_items
    if len(references) <= keep:
        return {p.name: references}, ""
    note = ngettext(
        "This model takes %(keep)d reference image: it got the first of your %(given)d.",
        "This model takes up to %(keep)d reference images: it got the first %(keep)d of your "
        "%(given)d.",
        keep,
    ) % {"keep": keep, "given": len(references)}
    return {p.name: references[:keep]}, note


@login_required
def compare(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    initial = {"prompt": request.GET.get("prompt", "")}
    form = CompareForm(data, request.FILES or None, initial=initial)
    choices = model_choices_for(_user(request), form, data)
    if form.is_valid():
        references = form.load_references()
        if references is not None:
            comparison = uuid.uuid4()
            chosen = [c for c in choices if c.name in form.cleaned_data["models"]]
            outcomes = compare_submit(
                user=_user(request),
                comparison=comparison,
                prompt=form.cleaned_data["prompt"],
                chosen=chosen,
                references=references,
            )
            request.session[f"compare-{comparison}"] = [asdict(o) for o in outcomes]
            return redirect("compare_detail", pk=comparison)
    context = {"form": form, "choices": choices}
    status = 400 if form.errors else 200
    return render(request, "generations/compare.html", context, status=status)


@dataclass(frozen=True)
class Column:
    model: str
    label: str
    job: Generation | None = None
    reason: str = ""
    note: str = ""
    settings: tuple[tuple[str, Any], ...] = ()


def comparison_columns(jobs: list[Generation], outcomes: list[dict[str, Any]]) -> list[Column]:
    """One column per model, in the order they were chosen: its job, or why it did not go."""
    by_model = {job.model: job for job in jobs}
    columns = []
    for outcome in outcomes or [{"model": job.model} for job in jobs]:
        job = by_model.pop(outcome["model"], None)
        columns.append(_column(outcome, job))
    columns += [_column({"model": job.model}, job) for job in by_model.values()]
    return columns


def _column(outcome: dict[str, Any], job: Generation | None) -> Column:
    model = outcome["model"]
    return Column(
        model=model,
        label=model_label(model),
        job=job,
        reason="" if job else outcome.get("reason", ""),
        note=outcome.get("note", "") if job else "",
        settings=_settings(job) if job else (),
    )


def _settings(job: Generation) -> tuple[tuple[str, Any], ...]:
    """What the job ran with, to tell the columns apart: its settings and references."""
    shown = [(name, job.params[name]) for name in SUMMARY_PARAMS if name in job.params]
    shown = [(k, v.replace("x", " \u00d7 ") if k == "size" else v) for k, v in shown]
    references: dict[str, int] = {}
    for ref in job.references.all():
        references[ref.param] = references.get(ref.param, 0) + 1
    return (*shown, *references.items())


@login_required
@require_GET
def compare_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    jobs = list(
        Generation.objects.filter(user=_user(request), comparison=pk)
        .prefetch_related("images", "references")
        .order_by("created_at")
    )
    outcomes = request.session.get(f"compare-{pk}", [])
    if not jobs and not outcomes:
        raise Http404("No such comparison.")
    context = {
        "columns": comparison_columns(jobs, outcomes),
        "prompt": jobs[0].prompt if jobs else "",
    }
    return render(request, "generations/compare_detail.html", context)
