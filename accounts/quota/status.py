"""What a person has left: one `QuotaStatus` per model, for every page and command."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from accounts.models import GroupPool, Period, Quota, User
from accounts.quota import budget
from accounts.quota.layers import (
    LayerCache,
    Layered,
    catalog_free_quota,
    layered_for,
    next_period_start,
)
from accounts.quota.pools import PoolView, pool_view, pools_for
from providers.catalog import get_catalog


@dataclass(frozen=True)
class QuotaStatus:
    """One person, one model, this period: the limit and where it comes from, the
    images used and held, and the group pool the person may draw from next."""

    model: str
    layered: Layered
    used: int
    reserved: int
    label: str = ""
    resets_at: datetime | None = None
    pool: PoolView = field(default_factory=PoolView)

    @property
    def limit(self) -> int | None:
        return self.layered.limit

    @property
    def left(self) -> int | None:
        """The person's own images left (None: unlimited)."""
        return budget.left(self.limit, self.used, self.reserved)

    @property
    def usable(self) -> int | None:
        """Images the person can still ask for, from every source (None: unlimited)."""
        if self.pool.only:
            return self.pool.left
        own = self.left
        return None if own is None else own + self.pool.left

    @property
    def pool_name(self) -> str:
        return self.pool.name

    @property
    def pool_left(self) -> int:
        return self.pool.left

    @property
    def pool_only(self) -> bool:
        return self.pool.only

    @property
    def period_label(self) -> str:
        return str(Period(self.layered.period).label)


def quota_status(*, user: User, model: str) -> QuotaStatus:
    """One model for one person (creates the person's quota row if missing)."""
    quota, _ = Quota.objects.get_or_create(user=user, model=model)
    if not quota.unlimited and quota.limit is not None:
        catalog_free_quota(model)  # still refuse a model that left the catalog
    layered = layered_for(user=user, model=model, quota=quota)
    return QuotaStatus(
        model,
        layered,
        quota.used,
        quota.reserved,
        resets_at=next_period_start(layered.period),
        pool=pool_view(pools_for(user=user, model=model)),
    )


def usage_for_model(*, user: User, model: str) -> QuotaStatus:
    """One catalog model for one person, as `quota_overview` has it. Reads only."""
    spec = get_catalog().get(model)
    if spec is None:
        catalog_free_quota(model)  # raises ModelNotFound
    quota = Quota.objects.filter(user=user, model=model).first()
    layered = layered_for(user=user, model=model, quota=quota)
    return QuotaStatus(
        model,
        layered,
        quota.used if quota else 0,
        quota.reserved if quota else 0,
        label=spec.label if spec else model,
        resets_at=next_period_start(layered.period),
        pool=pool_view(pools_for(user=user, model=model)),
    )


def quota_overview(user: User) -> list[QuotaStatus]:
    """Every catalog model for one person. Reads only: creates no quota rows."""
    quotas = {q.model: q for q in Quota.objects.filter(user=user)}
    layers = LayerCache(user_ids=[user.pk])
    pools: dict[str, list[GroupPool]] = {}
    for pool in pools_for(user=user):
        pools.setdefault(pool.model, []).append(pool)
    rows = []
    for spec in get_catalog().models.values():
        quota = quotas.get(spec.name)
        layered = layers.resolve(user_id=user.pk, model=spec.name, quota=quota)
        rows.append(
            QuotaStatus(
                spec.name,
                layered,
                quota.used if quota else 0,
                quota.reserved if quota else 0,
                label=spec.label,
                resets_at=next_period_start(layered.period),
                pool=pool_view(pools.get(spec.name, [])),
            )
        )
    return rows


def usage_for_user(user: User) -> list[QuotaStatus]:
    """The person's own usage per model this period, for their account page.

    Leaves out models they can't use and never used: noise on their page.
    """
    return [u for u in quota_overview(user) if u.limit != 0 or u.used or u.reserved]
