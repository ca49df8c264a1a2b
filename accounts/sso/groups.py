"""Directory groups -> quota groups, brought in line at every single sign-on.

The groups claim names the person's directory groups. Existing Django groups with
those names are joined (and remembered as granted by the directory). Groups the
claim no longer names are left only when the directory granted them, or when an
admin marked the group directory-managed; a group an admin gave by hand is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction

from accounts.audit import audit_sso_groups
from accounts.models import DirectoryMembership, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupChanges:
    joined: list[str]
    left: list[str]


def claimed_groups(claims: dict[str, Any], claim: str) -> list[str]:
    """The group names in a claim: a list, or one string (comma or space separated)."""
    value = claims.get(claim)
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple):
        return []
    return sorted({str(v).strip() for v in value if str(v).strip()})


@transaction.atomic
def directory_groups_sync(*, user: User, names: Iterable[str]) -> GroupChanges:
    named = set(names)
    current = {g.pk: g for g in user.groups.all()}
    granted = set(DirectoryMembership.objects.filter(user=user).values_list("group_id", flat=True))
    join = [g for g in Group.objects.filter(name__in=named) if g.pk not in current]
    leave = [
        g for g in current.values() if g.name not in named and (g.pk in granted or _managed(g))
    ]
    user.groups.add(*join)
    user.groups.remove(*leave)
    DirectoryMembership.objects.filter(user=user, group__in=leave).delete()
    for group in Group.objects.filter(name__in=named):
        DirectoryMembership.objects.get_or_create(user=user, group=group)
    changes = GroupChanges(sorted(g.name for g in join), sorted(g.name for g in leave))
    if changes.joined or changes.left:
        log.info(
            "sso groups for %s: joined %s, left %s", user.username, changes.joined, changes.left
        )
        audit_sso_groups(user=user, joined=changes.joined, left=changes.left)
    return changes


def _managed(group: Group) -> bool:
    directory = getattr(group, "directory", None)
    return bool(directory and directory.managed)
