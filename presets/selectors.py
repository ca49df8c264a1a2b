"""Preset reads: which presets a person may use."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from common.errors import InvalidRequest
from presets.models import Preset
from presets.sharing import visible_q, with_group_names


def usable_presets(user: User) -> QuerySet[Preset]:
    """Presets `user` may use, with what listing them needs (a bounded number of queries)."""
    return Preset.objects.filter(visible_q(Preset, user)).select_related("owner")


def presets_listed(user: User) -> list[Preset]:
    """The presets `user` may use, with who each is shared with: 2 queries however many."""
    return with_group_names(list(usable_presets(user)))


def preset_for(user: User, preset_id: Any) -> Preset:
    """The preset, if `user` may use it; an unknown or unseen one is a 400 naming `preset`."""
    try:
        found = Preset.objects.filter(visible_q(Preset, user), pk=int(preset_id)).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise InvalidRequest(f"No preset '{preset_id}'.", param="preset", code="preset_not_found")
    return found
