"""Who may see a shared thing (a preset, a board): its owner, groups, or everyone.

One abstract model and one filter, so boards and presets cannot drift apart on who
sees what. Seeing is reading; only the owner writes (boards add audited staff edits).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from common.errors import InvalidRequest

PRIVATE = "private"
EVERYONE = "everyone"


class Shared(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("owner"),
    )
    shared_everyone = models.BooleanField(_("shared with everyone"), default=False)
    shared_groups = models.ManyToManyField(
        Group, blank=True, related_name="+", verbose_name=_("shared with groups")
    )

    class Meta:
        abstract = True

    def shared_with(self) -> str | list[str]:
        """The API's `shared_with`: "private", "everyone" or group names (prefetch them)."""
        if self.shared_everyone:
            return EVERYONE
        names = getattr(self, "_group_names", None)
        if names is None:
            names = sorted(group.name for group in self.shared_groups.all())
        return names or PRIVATE


SharedT = TypeVar("SharedT", bound=Shared)


def visible_q(model: type[Shared], user: User) -> Q:
    """Rows of `model` `user` may see: their own, shared with everyone or with one of
    their groups. A subquery, not a join, so a row shared with two of them comes once."""
    through = model.shared_groups.through
    column = f"{model._meta.model_name}_id"
    in_groups = through._default_manager.filter(group__user=user).values(column)
    return Q(owner=user) | Q(shared_everyone=True) | Q(pk__in=in_groups)


def with_group_names(rows: list[SharedT]) -> list[SharedT]:
    """Each row's group names in one query for the whole list. (prefetch_related builds a
    related manager per row, which cost 2 ms a board in bench/p7_workspace.py.)"""
    if not rows:
        return rows
    model = type(rows[0])
    column = f"{model._meta.model_name}_id"
    found: dict[int, list[str]] = defaultdict(list)
    through = model.shared_groups.through._default_manager
    pairs = through.filter(**{f"{column}__in": [row.pk for row in rows]})
    for pk, name in pairs.values_list(column, "group__name"):
        found[pk].append(name)
    for row in rows:
        row._group_names = sorted(found[row.pk])  # type: ignore[attr-defined]
    return rows


def parse_shared_with(value: Any, *, owner: User) -> tuple[bool, list[Group]]:
    """`shared_with` as sent: "private", "everyone" or a list of `owner`'s group names.

    Only groups the owner is in, as the portal offers ("my groups"): a group they are not
    in is refused like one that does not exist, so the API does not tell which exist."""
    if value is None or value == PRIVATE:
        return False, []
    if value == EVERYONE:
        return True, []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise InvalidRequest(
            '\'shared_with\' must be "private", "everyone" or a list of group names.',
            param="shared_with",
        )
    groups = list(owner.groups.filter(name__in=names))
    unknown = sorted(set(names) - {g.name for g in groups})
    if unknown:
        raise InvalidRequest(f"No group named '{unknown[0]}' among yours.", param="shared_with")
    return False, groups


def apply_sharing(row: Shared, *, everyone: bool, groups: list[Group]) -> None:
    """Set who sees `row` (saved already)."""
    type(row)._default_manager.filter(pk=row.pk).update(shared_everyone=everyone)
    row.shared_everyone = everyone
    row.shared_groups.set(groups)
