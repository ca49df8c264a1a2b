"""Portal reads. Every query starts from `visible_generations(user)`, so a person can
only ever reach their own generations and images (staff: everyone's); anything
else is simply not found (404), never a file."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from django.core.exceptions import BadRequest
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User

from .models import Generation, Image, ReferenceImage

PAGE_SIZE = 24
# 24 million generations deep; past it a page number is a typo or a probe, not a page
# (and its offset would overflow the database's integers).
MAX_PAGE = 1_000_000


def visible_generations(user: User) -> QuerySet[Generation]:
    generations = Generation.objects.all()
    return generations if user.is_staff else generations.filter(user=user)


def visible_images(user: User) -> QuerySet[Image]:
    images = Image.objects.select_related("generation")
    return images if user.is_staff else images.filter(generation__user=user)


def _as_uuid(value: Any) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _id_or_404(pk: Any) -> UUID:
    """An id from a URL or query string: one that is not even a UUID names nothing."""
    uuid = _as_uuid(pk)
    if uuid is None:
        raise Http404("No such item.")
    return uuid


def generation_for(user: User, pk: Any) -> Generation:
    generations = visible_generations(user).prefetch_related("images")
    return get_object_or_404(generations, pk=_id_or_404(pk))


def image_for(user: User, pk: Any) -> Image:
    return get_object_or_404(visible_images(user), pk=_id_or_404(pk))


def reference_for(user: User, pk: Any) -> ReferenceImage:
    references = ReferenceImage.objects.all()
    if not user.is_staff:
        references = references.filter(generation__user=user)
    return get_object_or_404(references, pk=pk)


def images_for(user: User, ids: list[Any]) -> QuerySet[Image]:
    """The given images that the person may see; unknown or foreign ids drop out.

    A malformed id is no image's id: only a tampered form sends one, and the
    whole request is refused (400) rather than acted on in part.
    """
    uuids = [u for u in map(_as_uuid, ids) if u is not None]
    if len(uuids) < len(ids):
        raise BadRequest("An image id in the selection is malformed.")
    return visible_images(user).filter(pk__in=uuids).order_by("-generation__created_at", "index")


def recent_generations(user: User, limit: int = 8) -> list[Generation]:
    own = Generation.objects.filter(user=user)  # the generate page shows one's own jobs only
    return list(own.prefetch_related("images")[:limit])


@dataclass(frozen=True)
class GalleryFilters:
    q: str = ""
    model: str = ""
    status: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    starred: str = ""  # "", "first" or "only"
    everyone: bool = False  # staff only: everyone's generations, not just one's own


@dataclass(frozen=True)
class GalleryPage:
    generations: list[Generation]
    number: int
    has_next: bool
    filters: GalleryFilters = field(default_factory=GalleryFilters)


def gallery_page(
    user: User, filters: GalleryFilters, page: int = 1, per_page: int = PAGE_SIZE
) -> GalleryPage:
    """One page of generations, newest first, with their images: two queries, whatever the page.

    Paged by offset with one extra row to learn whether more follow, so no COUNT
    over a person's whole history is needed.
    """
    # "everyone" is a staff view; for anyone else it is dropped, not just ignored.
    filters = replace(filters, everyone=filters.everyone and user.is_staff)
    generations = _filtered(user, filters)
    page = max(page, 1)
    if page > MAX_PAGE:
        raise Http404("No such page.")
    start = (page - 1) * per_page
    rows = list(generations[start : start + per_page + 1])
    return GalleryPage(rows[:per_page], page, len(rows) > per_page, filters)


def _filtered(user: User, f: GalleryFilters) -> QuerySet[Generation]:
    everyone = f.everyone and user.is_staff
    generations = Generation.objects.all() if everyone else Generation.objects.filter(user=user)
    if f.q:
        generations = generations.filter(prompt__icontains=f.q)
    if f.model:
        generations = generations.filter(model=f.model)
    if f.status:
        generations = generations.filter(status=f.status)
    if f.date_from:
        generations = generations.filter(created_at__date__gte=f.date_from)
    if f.date_to:
        generations = generations.filter(created_at__date__lte=f.date_to)
    images = Image.objects.filter(generation=OuterRef("pk"))
    # A succeeded generation whose images were all deleted has nothing left to show.
    generations = generations.filter(~Q(status=Generation.Status.SUCCEEDED) | Q(Exists(images)))
    shown = Image.objects.order_by("index")
    if f.starred == "only":
        generations = generations.filter(Exists(images.filter(starred=True)))
        shown = shown.filter(starred=True)
    order = ["-created_at", "-pk"]
    if f.starred == "first":
        generations = generations.annotate(has_star=Exists(images.filter(starred=True)))
        order = ["-has_star", *order]
    if everyone:
        generations = generations.select_related("user")
    return generations.order_by(*order).prefetch_related(Prefetch("images", queryset=shown))


def reuse_initial(generation: Generation, *, keep_seed: bool) -> dict[str, Any]:
    """The generate form's initial values to redo a generation (same seed, or a new one)."""
    initial: dict[str, Any] = {"model": generation.model, "prompt": generation.prompt}
    initial.update(generation.params)
    if not keep_seed:
        initial.pop("seed", None)
    return initial


def references_for_reuse(user: User, ids: list[str]) -> list[ReferenceImage]:
    """Reference images the person may reuse (their own, or any for staff), by id."""
    clean = [int(i) for i in ids if str(i).isdigit()]
    references = ReferenceImage.objects.filter(pk__in=clean)
    if not user.is_staff:
        references = references.filter(generation__user=user)
    return list(references.order_by("param", "position"))
