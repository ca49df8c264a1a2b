"""Group pools: a group's members draw shared images of a model, race-free.

The counters move through the budget algebra (accounts.quota.budget) like a person's
quota; settlement is once per generation, under the generation's quota_state guard.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group

from accounts.models import GroupPool, User
from accounts.quota import budget
from accounts.quota.budget import POOL
from accounts.quota.changes import audit_quota_change


@dataclass(frozen=True)
class PoolView:
    """The pool a person would draw from next: its group, what is left, whether alone."""

    name: str = ""
    left: int = 0
    only: bool = False  # the group's members draw from its pool alone


def pools_for(*, user: User, model: str | None = None) -> list[GroupPool]:
    """The pools of the person's groups (for one model, or all): "only" first, then by name."""
    pools = GroupPool.objects.filter(group__user=user).select_related("group")
    if model is not None:
        pools = pools.filter(model=model)
    return sorted(pools, key=lambda p: (p.mode != GroupPool.Mode.ONLY, p.group.name))


def drawable(pools: list[GroupPool]) -> tuple[list[GroupPool], bool]:
    """The pools a member may draw from, and whether they draw from those alone."""
    only = [p for p in pools if p.mode == GroupPool.Mode.ONLY]
    return (only, True) if only else (pools, False)


def pool_view(pools: list[GroupPool]) -> PoolView:
    """The best pool among `pools` that the person may draw from."""
    candidates, only = drawable(pools)
    if not candidates:
        return PoolView()
    lefts = {p.pk: pool_left(p) for p in candidates}
    best = max(candidates, key=lambda p: lefts[p.pk])
    return PoolView(best.group.name, lefts[best.pk], only)


def pool_reserve(*, pools: list[GroupPool], n: int) -> GroupPool | None:
    """Hold n images in the first pool that has them; None if none has."""
    for pool in pools:
        budget.roll(POOL, pool.pk, period=pool.period)
        rows = GroupPool.objects.filter(pk=pool.pk, size=pool.size)
        if budget.reserve(POOL, rows, limit=pool.size, n=n):
            return pool
    return None


def pool_settle(*, pool_id: int, reserved: int, used: int) -> None:
    budget.settle(POOL, GroupPool.objects.filter(pk=pool_id), reserved=reserved, used=used)


def pool_left(pool: GroupPool) -> int:
    budget.roll(POOL, pool.pk, period=pool.period)
    fresh = GroupPool.objects.values("size", "used", "reserved").get(pk=pool.pk)
    return budget.left(fresh["size"], fresh["used"], fresh["reserved"]) or 0


POOL_FIELDS = ("size", "period", "mode")


def pool_set(
    *,
    actor: User | None,
    group: Group,
    model: str,
    size: int,
    period: str,
    mode: str,
    reason: str = "",
) -> GroupPool:
    """Create or change a group's pool for a model, auditing each changed field.

    Only the settings are written: `used` and `reserved` move with requests, never here.
    """
    pool, created = GroupPool.objects.get_or_create(
        group=group, model=model, defaults={"size": size, "period": period, "mode": mode}
    )
    old = {f: ("none" if created else str(getattr(pool, f))) for f in POOL_FIELDS}
    new = {"size": size, "period": period, "mode": mode}
    changed = [f for f in POOL_FIELDS if created or str(getattr(pool, f)) != str(new[f])]
    for field in changed:
        audit_quota_change(
            actor=actor,
            group=group,
            model=model,
            action="pool",
            field=f"pool {field}",
            old=old[field],
            new=str(new[field]),
            reason=reason,
        )
    if changed and not created:
        GroupPool.objects.filter(pk=pool.pk).update(**{f: new[f] for f in changed})
        pool.refresh_from_db()
    return pool
