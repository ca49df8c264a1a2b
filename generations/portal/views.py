"""Portal pages: thin interfaces over generations.services / portal.services / selectors."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.quota import quota_overview, quota_status
from common.errors import DarkroomError
from common.streaming import serve_stored_file, streaming_response
from generations import selectors
from generations.models import Generation, ReferenceImage
from generations.portal import services as portal_services
from generations.portal import workspace
from generations.portal.forms import GalleryFilterForm, GenerateForm
from generations.portal.text import error_text
from generations.references import references_by_param
from generations.results import add_thumbnails
from generations.services import generation_create
from providers.catalog import ModelSpec, get_catalog
from providers.labels import model_label


def _user(request: HttpRequest) -> User:
    # login_required guards every view here, so the user is a real account.
    return cast(User, request.user)


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _spec(name: str | None, user: Any = None) -> ModelSpec:
    catalog = get_catalog()
    if not name and user is not None:
        last = Generation.objects.filter(user=user).values_list("model", flat=True).first()
        name = last
    return catalog.get(name or "") or next(iter(catalog.models.values()))


@dataclass(frozen=True)
class ModelOption:
    name: str
    label: str
    left: int | None  # None: unlimited


def _model_options(user: User) -> list[ModelOption]:
    """The model picker: every model with the images this person can still ask for
    (their own left, plus the best group pool they may draw from)."""
    return [ModelOption(u.model, model_label(u.model), u.usable) for u in quota_overview(user)]


def _generate_context(
    request: HttpRequest,
    form: GenerateForm,
    references: list[ReferenceImage],
    preset: Any = None,
) -> dict[str, Any]:
    return {
        **workspace.picker_context(_user(request), preset, request.GET.get("presets_q", "")),
        "form": form,
        "spec": form.spec,
        "model_options": _model_options(_user(request)),
        "quota": quota_status(user=_user(request), model=form.spec.name),
        "references": references,
        "jobs": selectors.recent_generations(_user(request)),
    }


@login_required
def generate(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _generate_submit(request)
    initial, preset = workspace.preset_initial(_user(request), request.GET)
    references: list[ReferenceImage] = []
    reuse = request.GET.get("reuse")
    if reuse:
        generation = selectors.generation_for(_user(request), reuse)
        initial = selectors.reuse_initial(generation, keep_seed=request.GET.get("seed") == "same")
        references = list(generation.references.all())
    spec = _spec(initial.get("model") or request.GET.get("model"), _user(request))
    form = GenerateForm(spec, initial={"model": spec.name, **initial})
    return render(
        request, "generations/generate.html", _generate_context(request, form, references, preset)
    )


@login_required
@require_GET
def generate_fields(request: HttpRequest) -> HttpResponse:
    """The model-specific part of the generate form, swapped in when the model changes."""
    spec = _spec(request.GET.get("model"))
    form = GenerateForm(spec, initial={"model": spec.name})
    quota = quota_status(user=_user(request), model=spec.name)
    return render(
        request,
        "generations/_model_fields.html",
        {"form": form, "spec": spec, "quota": quota, "references": []},
    )


def _generate_submit(request: HttpRequest) -> HttpResponse:
    spec = _spec(request.POST.get("model"))
    form = GenerateForm(spec, request.POST, request.FILES)
    reused = selectors.references_for_reuse(_user(request), request.POST.getlist("ref"))
    references = reused or []
    generation = None
    valid = form.is_valid()
    if reused is None:
        form.add_error(
            None, _("A reference image you picked is no longer available: pick it again.")
        )
    elif valid:
        try:
            prompt, preset = workspace.prompt_with_slots(_user(request), request.POST)
            generation = generation_create(
                user=_user(request),
                model=spec.name,
                prompt=prompt,
                params=form.params(),
                images=form.image_sources(references_by_param(references)),
                source=Generation.Source.PORTAL,
                extra={"preset": preset} if preset else None,
            )
        except DarkroomError as exc:
            field = exc.param if exc.param in form.fields else None
            form.add_error(field, error_text(exc, spec))
    if _htmx(request):
        context = {
            "form": form,
            "generation": generation,
            "spec": spec,
            "quota": quota_status(user=_user(request), model=spec.name),
            "model_options": _model_options(_user(request)),
        }
        return render(request, "generations/_submit_result.html", context)
    if generation is not None:
        return redirect(f"{reverse('generate')}?model={spec.name}")
    return render(
        request,
        "generations/generate.html",
        _generate_context(request, form, references),
        status=400,
    )


@login_required
@require_GET
def generation_card(request: HttpRequest, pk: Any) -> HttpResponse:
    """One job's card; a card still in progress polls this again until it is finished."""
    generation = selectors.generation_for(_user(request), pk)
    return render(request, "generations/_job_card.html", {"job": generation})


# One poll for every running tile on the page; more ids than this wait for the next poll.
MAX_TILES_PER_POLL = 50


@login_required
@require_GET
def generation_tiles(request: HttpRequest) -> HttpResponse:
    """The gallery's tiles for the given generations: one request for every running tile."""
    ids = [i for i in request.GET.getlist("id")[:MAX_TILES_PER_POLL] if _is_uuid(i)]
    generations = (
        selectors.visible_generations(_user(request)).filter(pk__in=ids).prefetch_related("images")
    )
    return render(request, "generations/_gallery_tiles.html", {"generations": generations})


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    form = GalleryFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    filters = selectors.GalleryFilters(**{k: v for k, v in data.items() if v not in (None, "")})
    try:
        number = int(request.GET.get("page", "1"))
    except ValueError:
        number = 1
    after = request.GET.get("after", "")
    page = selectors.gallery_page(_user(request), filters, number, after=after)
    context = {
        "form": form,
        "page": page,
        "filtered": any(v not in (None, "", False) for v in data.values()),
    }
    if _htmx(request) and request.GET.get("page"):
        return render(request, "generations/_gallery_page.html", context)
    return render(request, "generations/gallery.html", context)


@login_required
@require_GET
def image_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    image = portal_services.image_open(user=_user(request), image_id=pk, how="page")
    generation = selectors.generation_for(_user(request), image.generation_id)
    spec = get_catalog().get(generation.model)
    references = list(generation.references.all())
    return render(
        request,
        "generations/image_detail.html",
        {
            "image": image,
            "generation": generation,
            "spec": spec,
            "references": references,
            "params": applied_params(generation.params, has_references=bool(references)),
        },
    )


# Parameters that act on a reference image: without one the upstream ignores them.
_WITH_REFERENCES = frozenset({"strength"})


def applied_params(params: dict[str, Any], *, has_references: bool) -> dict[str, Any]:
    """The parameters that shaped the image: a text-only job lists no reference strength."""
    return {k: v for k, v in params.items() if has_references or k not in _WITH_REFERENCES}


@login_required
@require_GET
def image_file(request: HttpRequest, pk: Any) -> HttpResponseBase:
    image = portal_services.image_open(user=_user(request), image_id=pk, how="original")
    name = portal_services.zip_name(image) if request.GET.get("download") else None
    return serve_stored_file(request, image.file, download_name=name)


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, pk: Any) -> HttpResponseBase:
    image = portal_services.image_open(user=_user(request), image_id=pk, how="thumbnail")
    if not image.thumbnail:  # its worker stopped between the answer and the thumbnail
        add_thumbnails([image])
    return serve_stored_file(request, image.thumbnail or image.file)


@login_required
@require_GET
def reference_file(request: HttpRequest, pk: int) -> HttpResponseBase:
    reference = portal_services.reference_open(user=_user(request), reference_id=pk)
    return serve_stored_file(request, reference.file)


@login_required
@require_POST
def image_star(request: HttpRequest, pk: Any) -> HttpResponse:
    starred = request.POST.get("starred") == "1"
    image = portal_services.image_set_star(user=_user(request), image_id=pk, starred=starred)
    if _htmx(request):
        return render(request, "generations/_star_button.html", {"image": image})
    return redirect("image_detail", pk=image.pk)


@login_required
@require_POST
def image_delete(request: HttpRequest, pk: Any) -> HttpResponse:
    image = selectors.image_for(_user(request), pk, action="delete")
    portal_services.images_delete(user=_user(request), image_ids=[image.pk])
    messages.success(request, _("Image deleted."))
    return redirect("gallery")


@login_required
@require_POST
def images_bulk(request: HttpRequest) -> HttpResponseBase:
    """The gallery's selection toolbar: download the chosen images as a zip, or delete them."""
    ids = request.POST.getlist("image")
    if request.POST.get("action") == "delete":
        count = portal_services.images_delete(user=_user(request), image_ids=ids)
        messages.success(
            request,
            ngettext("%(count)d image deleted.", "%(count)d images deleted.", count)
            % {"count": count},
        )
        return redirect(_safe_next(request) or reverse("gallery"))
    chunks, count = portal_services.images_zip(user=_user(request), image_ids=ids)
    if not count:
        messages.error(request, _("Choose at least one image."))
        return redirect("gallery")
    return streaming_response(
        request,
        chunks,
        content_type="application/zip",
        download_name="darkroom-images.zip",
    )


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next", "")
    ok = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return target if target and ok else None
