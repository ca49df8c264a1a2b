"""Preset reads: which presets a person may use."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

from accounts.models import User
from common.errors import InvalidRequest
from presets.models import Preset
from presets.sharing import visible_q, with_group_names

PICKER_SIZE = 20  # presets the generate page shows at once; search reaches the rest


def usable_presets(user: User) -> QuerySet[Preset]:
    """Presets `user` may use, with what listing them needs (a bounded number of queries)."""
    return Preset.objects.filter(visible_q(Preset, user)).select_related("owner")


def presets_page(user: User, number: Any, size: int) -> Page[Preset]:
    """One page of the presets `user` may use, by name, with who each is shared with:
    3 queries however many."""
    page = Paginator(usable_presets(user).order_by("name", "pk"), size).get_page(number)
    page.object_list = with_group_names(list(page.object_list))
    return page


def presets_matching(user: User, words: str, limit: int = PICKER_SIZE) -> tuple[list[Preset], bool]:
    """The generate page's picker: up to `limit` usable presets whose name, model or
    template holds every word, and whether more match (one query, one row extra)."""
    found = usable_presets(user).order_by("name", "pk")
    for word in words.split():
        found = found.filter(
            Q(name__icontains=word) | Q(model__icontains=word) | Q(template__icontains=word)
        )
    rows = list(found[: limit + 1])
    return rows[:limit], len(rows) > limit


def preset_for(user: User, preset_id: Any) -> Preset:
    """The preset, if `user` may use it; an unknown or unseen one is a 400 naming `preset`."""
    try:
        found = Preset.objects.filter(visible_q(Preset, user), pk=int(preset_id)).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise InvalidRequest(f"No preset '{preset_id}'.", param="preset", code="preset_not_found")
    return found
