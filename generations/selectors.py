"""Portal reads. Every query starts from `visible_generations(user)`, so a person can
only ever reach their own generations and images; anything else is simply not found
(404), never a file. Staff reach other people's only as far as their Django
permissions go (view or delete generation, image, reference image); a superuser has
them all. Reading one of someone else's images is audited (portal.services)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from django.core.exceptions import BadRequest
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.lookups import IsNull
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from generations.models import Generation, Image, ReferenceImage

PAGE_SIZE = 24
# 24 million generations deep; past it a page number is a typo or a probe, not a page
# (and its offset would overflow the database's integers).
MAX_PAGE = 1_000_000


def may_reach_others(user: User, action: str, model: str) -> bool:
    """Staff whose permissions cover `action` ("view", "delete") on other people's `model`."""
    return user.is_staff and user.has_perm(f"generations.{action}_{model}")


def visible_generations(user: User) -> QuerySet[Generation]:
    generations = Generation.objects.all()
    everyone = may_reach_others(user, "view", "generation")
    return generations if everyone else generations.filter(user=user)


def visible_images(user: User, action: str = "view") -> QuerySet[Image]:
    images = Image.objects.select_related("generation", "generation__user")
    everyone = may_reach_others(user, action, "image")
    return images if everyone else images.filter(generation__user=user)


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


def image_for(user: User, pk: Any, action: str = "view") -> Image:
    return get_object_or_404(visible_images(user, action), pk=_id_or_404(pk))


def reference_for(user: User, pk: Any) -> ReferenceImage:
    references = ReferenceImage.objects.select_related("generation__user")
    if not may_reach_others(user, "view", "referenceimage"):
        references = references.filter(generation__user=user)
    return get_object_or_404(references, pk=pk)


def images_for(user: User, ids: list[Any], action: str = "view") -> QuerySet[Image]:
    """The given images that the person may see; unknown or foreign ids drop out.

    A malformed id is no image's id: only a tampered form sends one, and the
    whole request is refused (400) rather than acted on in part.
    """
    uuids = [u for u in map(_as_uuid, ids) if u is not None]
    if len(uuids) < len(ids):
        raise BadRequest("An image id in the selection is malformed.")
    chosen = visible_images(user, action).filter(pk__in=uuids)
    return chosen.order_by("-generation__created_at", "index")


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
    next_cursor: str = ""  # where the next page starts ("after" in the query string)


@dataclass(frozen=True)
class Cursor:
    """The last row of a page, in the gallery's order: (starred, created_at, pk)."""

    created_at: datetime.datetime
    pk: UUID
    star: bool = False

    def encode(self) -> str:
        micros = (self.created_at - _EPOCH) // datetime.timedelta(microseconds=1)
        return f"{int(self.star)}-{micros}-{self.pk.hex}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The cursor in `text`, or None for anything else (a bad link starts over)."""
        star, _, rest = text.partition("-")
        micros, _, pk = rest.partition("-")
        try:
            moment = _EPOCH + datetime.timedelta(microseconds=int(micros))
            return cls(created_at=moment, pk=UUID(hex=pk), star=star == "1")
        except (ValueError, OverflowError):
            return None


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def gallery_page(
    user: User,
    filters: GalleryFilters,
    page: int = 1,
    after: str = "",
    per_page: int = PAGE_SIZE,
) -> GalleryPage:
    """One page of generations, newest first, with their images: two queries, whatever the page.

    Paged by keyset: `after` names the last row of the previous page, so page 40 costs
    what page 1 does (an OFFSET would read and drop every row before it). One extra row
    says whether more follow, so no COUNT over a person's whole history is needed.
    """
    # "everyone" is a staff view; for anyone else it is dropped, not just ignored.
    filters = replace(filters, everyone=filters.everyone and _sees_everyones_history(user))
    cursor = Cursor.decode(after) if after else None
    generations = _filtered(user, filters)
    if page > MAX_PAGE:
        raise Http404("No such page.")
    if cursor is not None:
        generations = _after(generations, cursor, starred_first=filters.starred == "first")
    rows = list(generations[: per_page + 1])
    shown = rows[:per_page]
    has_next = len(rows) > per_page
    next_cursor = _cursor_of(shown[-1]).encode() if has_next else ""
    number = max(page, 1) if cursor is not None else 1
    return GalleryPage(shown, number, has_next, filters, next_cursor)


def _cursor_of(generation: Generation) -> Cursor:
    star = bool(getattr(generation, "has_star", False))
    return Cursor(created_at=generation.created_at, pk=generation.pk, star=star)


def _after(
    generations: QuerySet[Generation], cursor: Cursor, *, starred_first: bool
) -> QuerySet[Generation]:
    """Rows after the cursor in (-has_star, -created_at, -pk) order.

    `created_at <= c` is implied by the OR but stated on its own: it is what lets
    PostgreSQL start the index scan at the cursor instead of filtering its way there.
    """
    c = cursor.created_at
    older = Q(created_at__lte=c) & (Q(created_at__lt=c) | Q(created_at=c, pk__lt=cursor.pk))
    if not starred_first:
        return generations.filter(older)
    if cursor.star:
        return generations.filter((Q(has_star=True) & older) | Q(has_star=False))
    return generations.filter(Q(has_star=False) & older)


def _sees_everyones_history(user: User) -> bool:
    return may_reach_others(user, "view", "generation") and may_reach_others(user, "view", "image")


def _filtered(user: User, f: GalleryFilters) -> QuerySet[Generation]:
    everyone = f.everyone and _sees_everyones_history(user)
    generations = Generation.objects.all() if everyone else Generation.objects.filter(user=user)
    if f.q:
        # On PostgreSQL a trigram index on UPPER(prompt) serves this (migration 0006).
        generations = generations.filter(prompt__icontains=f.q)
    if f.model:
        generations = generations.filter(model=f.model)
    if f.status:
        generations = generations.filter(status=f.status)
    # Bounds on the column itself, not on created_at::date, so the index serves them.
    if f.date_from:
        generations = generations.filter(created_at__gte=_day_start(f.date_from))
    if f.date_to:
        next_day = f.date_to + datetime.timedelta(days=1)
        generations = generations.filter(created_at__lt=_day_start(next_day))
    images = Image.objects.filter(generation=OuterRef("pk"))
    # A succeeded generation whose images were all deleted has nothing left to show.
    generations = generations.filter(_shows_something(images))
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


def _shows_something(images: QuerySet[Image]) -> Q:
    """Not succeeded (a status tile), or succeeded with an image left.

    A scalar subquery rather than EXISTS: PostgreSQL may plan an EXISTS under an OR
    as a hashed subplan that reads every image of every person before the page's
    first row (117 ms at 100k images); a scalar subquery stays a per-row probe of
    the image index, run only for the rows the page actually visits.
    """
    first_image = Subquery(images.order_by().values("pk")[:1])
    return ~Q(status=Generation.Status.SUCCEEDED) | Q(IsNull(first_image, False))


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def reuse_initial(generation: Generation, *, keep_seed: bool) -> dict[str, Any]:
    """The generate form's initial values to redo a generation (same seed, or a new one)."""
    initial: dict[str, Any] = {"model": generation.model, "prompt": generation.prompt}
    initial.update(generation.params)
    if not keep_seed:
        initial.pop("seed", None)
    return initial


# A bigint primary key has at most 19 digits; 18 always fits.
_MAX_ID_DIGITS = 18


def references_for_reuse(user: User, ids: list[str]) -> list[ReferenceImage] | None:
    """Reference images the person may reuse (their own, or others' for staff allowed to
    view them), by id.

    None when any id is malformed, unknown or not theirs: the job must not run without
    a picture the person meant to send ("²" passes str.isdigit(), 30 digits overflow).
    """
    wanted = set()
    for raw in ids:
        if not (raw.isascii() and raw.isdigit() and len(raw) <= _MAX_ID_DIGITS):
            return None
        wanted.add(int(raw))
    references = ReferenceImage.objects.filter(pk__in=wanted)
    if not may_reach_others(user, "view", "referenceimage"):
        references = references.filter(generation__user=user)
    found = list(references.order_by("param", "position"))
    return found if len(found) == len(wanted) else None
