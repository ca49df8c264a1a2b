"""Pooled group budgets: members draw shared images, race-free.

Same rules as personal quotas (accounts.services): a reservation is one conditional
UPDATE (`used + reserved + n <= size`, judged by the database under the row lock);
settlement is once per generation, under the generation's quota_state guard; a new
period starts by one idempotent UPDATE that zeroes `used` only on rows still
counting from before the period's start.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db.models import F, Value
from django.db.models.functions import Greatest

from .models import GroupPool, User
from .quota_changes import audit_quota_change
from .selectors import period_start


def pools_for(*, user: User, model: str) -> list[GroupPool]:
    """The pools of the person's groups for a model: "only" pools first, then by name."""
    pools = GroupPool.objects.filter(group__user=user, model=model).select_related("group")
    return sorted(pools, key=lambda p: (p.mode != GroupPool.Mode.ONLY, p.group.name))


def pool_reserve(*, pools: list[GroupPool], n: int) -> GroupPool | None:
    """Hold n images in the first pool that has them; None if none has."""
    for pool in pools:
        _roll_period(pool)
        held = (
            GroupPool.objects.filter(pk=pool.pk, size=pool.size)
            .filter(used__lte=Value(pool.size - n) - F("reserved"))
            .update(reserved=F("reserved") + n)
        )
        if held == 1:
            return pool
    return None


def pool_settle(*, pool_id: int, reserved: int, used: int) -> None:
    GroupPool.objects.filter(pk=pool_id).update(
        reserved=Greatest(F("reserved") - reserved, Value(0)), used=F("used") + used
    )


def pool_left(pool: GroupPool) -> int:
    _roll_period(pool)
    fresh = GroupPool.objects.values("size", "used", "reserved").get(pk=pool.pk)
    return max(0, fresh["size"] - fresh["used"] - fresh["reserved"])


def _roll_period(pool: GroupPool) -> None:
    start = period_start(pool.period)
    if start is not None:
        GroupPool.objects.filter(pk=pool.pk, used_since__lt=start).update(used=0, used_since=start)


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
