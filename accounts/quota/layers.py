"""Which layer a person's limit and reset period come from, and when periods start.

Layers, most specific first: the person's own row (unlimited, or a limit), their
groups' rows for the model, the catalog's free quota. A person in several groups
gets the most generous group limit (unlimited beats any number) and the most
frequent group reset period: groups add allowances, they never take them away.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from accounts.models import GroupQuota, ModelQuotaPolicy, Period, Quota, User
from common.errors import ModelNotFound
from providers.catalog import get_catalog

# Higher resets more often; a person in several groups gets the most frequent.
_PERIOD_RANK = {Period.NEVER: 0, Period.MONTHLY: 1, Period.WEEKLY: 2, Period.DAILY: 3}


@dataclass(frozen=True)
class Layered:
    """A person's effective limit and period for one model, and where each comes from."""

    limit: int | None  # None: unlimited
    source: str  # "person", "group <name>" or "catalog"
    period: str
    period_source: str  # "group <name>", "model" or "default"

    @property
    def limit_display(self) -> str:
        return "unlimited" if self.limit is None else str(self.limit)


def catalog_free_quota(model: str) -> int:
    spec = get_catalog().get(model)
    if spec is None:
        raise ModelNotFound(f"The model '{model}' does not exist.", param="model")
    return spec.free_quota


def resolve(
    *,
    model: str,
    quota: Quota | None,
    group_rows: Iterable[GroupQuota],
    model_period: str | None,
) -> Layered:
    """Pure: combine the layers already loaded for one person and one model."""
    groups = [g for g in group_rows if g.model == model]
    limit, source = _limit(model, quota, groups)
    period, period_source = _period(groups, model_period)
    return Layered(limit, source, period, period_source)


def _limit(model: str, quota: Quota | None, groups: list[GroupQuota]) -> tuple[int | None, str]:
    if quota is not None and quota.unlimited:
        return None, "person"
    if quota is not None and quota.limit is not None:
        return quota.limit, "person"
    unlimited = [g for g in groups if g.unlimited]
    if unlimited:
        return None, f"group {unlimited[0].group.name}"
    limited = [g for g in groups if g.limit is not None]
    if limited:
        best = max(limited, key=lambda g: g.limit or 0)
        return best.limit, f"group {best.group.name}"
    return catalog_free_quota(model), "catalog"


def _period(groups: list[GroupQuota], model_period: str | None) -> tuple[str, str]:
    with_period = [g for g in groups if g.period]
    if with_period:
        best = max(with_period, key=lambda g: _PERIOD_RANK[Period(g.period)])
        return best.period, f"group {best.group.name}"
    if model_period:
        return model_period, "model"
    return Period.NEVER, "default"


def group_rows_for(user: User, model: str | None = None) -> list[GroupQuota]:
    rows = GroupQuota.objects.filter(group__user=user).select_related("group")
    if model is not None:
        rows = rows.filter(model=model)
    return list(rows)


def model_periods() -> dict[str, str]:
    return dict(ModelQuotaPolicy.objects.values_list("model", "period"))


def layered_for(*, user: User, model: str, quota: Quota | None) -> Layered:
    """One person, one model: loads the group and model layers (two small queries)."""
    policy = ModelQuotaPolicy.objects.filter(model=model).values_list("period", flat=True).first()
    return resolve(
        model=model, quota=quota, group_rows=group_rows_for(user, model), model_period=policy
    )


class LayerCache:
    """Every group and model layer loaded once, for lists over many people and models."""

    def __init__(self, user_ids: Iterable[int] | None = None) -> None:
        self.periods = model_periods()
        self.by_user: dict[int, list[GroupQuota]] = {}
        memberships = User.groups.through.objects.values_list("user_id", "group_id")
        if user_ids is not None:
            memberships = memberships.filter(user_id__in=list(user_ids))
        by_group: dict[int, list[GroupQuota]] = {}
        for row in GroupQuota.objects.select_related("group"):
            by_group.setdefault(row.group_id, []).append(row)
        for user_id, group_id in memberships:
            self.by_user.setdefault(user_id, []).extend(by_group.get(group_id, []))

    def resolve(self, *, user_id: int, model: str, quota: Quota | None) -> Layered:
        return resolve(
            model=model,
            quota=quota,
            group_rows=self.by_user.get(user_id, []),
            model_period=self.periods.get(model),
        )


def period_start(period: str, now: datetime | None = None) -> datetime | None:
    """The start of the current period in the site's time zone; None for NEVER."""
    local = timezone.localtime(now or timezone.now())
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == Period.DAILY:
        return midnight
    if period == Period.WEEKLY:
        return midnight - timedelta(days=midnight.weekday())
    if period == Period.MONTHLY:
        return midnight.replace(day=1)
    return None


def next_period_start(period: str, now: datetime | None = None) -> datetime | None:
    start = period_start(period, now)
    if start is None:
        return None
    if period == Period.DAILY:
        nxt = start + timedelta(days=1)
    elif period == Period.WEEKLY:
        nxt = start + timedelta(days=7)
    else:
        nxt = (start + timedelta(days=32)).replace(day=1)
    # Re-localise: adding days across a DST change keeps the old UTC offset.
    return timezone.make_aware(nxt.replace(tzinfo=None))


def effective_limit(*, user: User, model: str, quota: Quota | None = None) -> int | None:
    """The person's limit for a model: their own, else their groups', else the catalog's.

    None means unlimited.
    """
    if quota is not None and not quota.unlimited and quota.limit is not None:
        catalog_free_quota(model)  # still refuse a model that left the catalog
        return quota.limit
    return layered_for(user=user, model=model, quota=quota).limit
