"""Spending quota: each write is one conditional UPDATE (admin changes: accounts.quota_changes).

Nothing here saves a whole Quota row, so no write can overwrite `used` or `reserved`
moved by a request or an admin change in the meantime: no lost update, no double count.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Value
from django.db.models.functions import Greatest

from common.errors import QuotaExceeded

from .audit import audit_person
from .models import GroupPool, Quota, User
from .pools import pool_left, pool_reserve, pool_settle, pools_for
from .quota_changes import quota_update
from .selectors import catalog_free_quota, layered_for
from .signals import quota_refused


@dataclass(frozen=True)
class QuotaStatus:
    """A person's images for one model: their own allowance, and a group pool if any."""

    model: str
    limit: int | None  # None: unlimited
    used: int
    reserved: int
    pool_name: str = ""  # the group whose pool the person can draw from
    pool_left: int = 0
    pool_only: bool = False  # the group's members draw from its pool alone

    @property
    def left(self) -> int | None:
        """The person's own images left (None: unlimited)."""
        if self.limit is None:
            return None
        return max(0, self.limit - self.used - self.reserved)

    @property
    def usable(self) -> int | None:
        """Images the person can still ask for, from every source (None: unlimited)."""
        if self.pool_only:
            return self.pool_left
        own = self.left
        return None if own is None else own + self.pool_left


def effective_limit(*, user: User, model: str, quota: Quota | None = None) -> int | None:
    """The person's limit for a model: their own, else their groups', else the catalog's.

    None means unlimited. See accounts.selectors for how the layers combine.
    """
    if quota is not None and not quota.unlimited and quota.limit is not None:
        catalog_free_quota(model)  # still refuse a model that left the catalog
        return quota.limit
    return layered_for(user=user, model=model, quota=quota).limit


def _row(user: User, model: str) -> Quota:
    quota, _ = Quota.objects.get_or_create(user=user, model=model)
    return quota


def quota_status(*, user: User, model: str) -> QuotaStatus:
    quota = _row(user, model)
    limit = effective_limit(user=user, model=model, quota=quota)
    pools = pools_for(user=user, model=model)
    only = [p for p in pools if p.mode == GroupPool.Mode.ONLY]
    drawable = only or pools
    best = max(drawable, key=pool_left, default=None)
    return QuotaStatus(
        model,
        limit,
        quota.used,
        quota.reserved,
        pool_name=best.group.name if best else "",
        pool_left=pool_left(best) if best else 0,
        pool_only=bool(only),
    )


def quota_reserve(*, user: User, model: str, n: int) -> None:
    """Hold n images for a request, or refuse it whole with how many are left."""
    for _attempt in range(3):
        quota = _row(user, model)
        limit = effective_limit(user=user, model=model, quota=quota)
        # The person's own layer as we read it: if an admin grant lands between that
        # read and this UPDATE, no row matches and we look again with the new limit,
        # so a request made while a grant is being written is judged by the grant.
        rows = Quota.objects.filter(pk=quota.pk, limit=quota.limit, unlimited=quota.unlimited)
        if limit is not None:
            # used + reserved + n <= limit, evaluated by the database under the row lock
            rows = rows.filter(used__lte=Value(limit - n) - F("reserved"))
        if rows.update(reserved=F("reserved") + n) == 1:
            return
        if _same_person_layer(quota):
            break
    left = quota_status(user=user, model=model).left or 0
    quota_refused.send(User, user=user, model=model, n=n)
    raise QuotaExceeded(
        f"Not enough free images left for {model}: {n} requested, {left} left.",
        left=left,
        param="n",
    )


def quota_hold(*, user: User, model: str, n: int) -> GroupPool | None:
    """Hold n images: from the person's own quota, else a group pool; the pool, if one.

    A group whose pool for this model is "only" makes its members draw from the pool
    alone; an "overflow" pool serves them once their own allowance is spent.
    """
    pools = pools_for(user=user, model=model)
    only = [p for p in pools if p.mode == GroupPool.Mode.ONLY]
    if only:
        pool = pool_reserve(pools=only, n=n)
        if pool is None:
            left = max(pool_left(p) for p in only)
            raise QuotaExceeded(
                f"Not enough images left in the {only[0].group.name} pool for {model}: "
                f"{n} requested, {left} left.",
                left=left,
                param="n",
            )
        return pool
    try:
        quota_reserve(user=user, model=model, n=n)
        return None
    except QuotaExceeded:
        pool = pool_reserve(pools=pools, n=n)
        if pool is None:
            raise
        return pool


def quota_release(
    *, user: User | int, model: str, pool_id: int | None, reserved: int, used: int
) -> None:
    """Settle a reservation where it was held: a group pool, or the person's own quota."""
    if pool_id is not None:
        pool_settle(pool_id=pool_id, reserved=reserved, used=used)
    else:
        quota_settle(user=user, model=model, reserved=reserved, used=used)


def quota_settle(*, user: User | int, model: str, reserved: int, used: int) -> None:
    """Turn a reservation into `used` images and give the rest back (used may be 0)."""
    Quota.objects.filter(user=user, model=model).update(
        reserved=Greatest(F("reserved") - reserved, Value(0)),
        used=F("used") + used,
    )


def _same_person_layer(quota: Quota) -> bool:
    return Quota.objects.filter(pk=quota.pk, limit=quota.limit, unlimited=quota.unlimited).exists()


def quota_set_limit(
    *, user: User, model: str, limit: int | None, actor: User | None = None, reason: str = ""
) -> QuotaStatus:
    quota_update(actor=actor, user=user, model=model, limit=limit, reason=reason)
    return quota_status(user=user, model=model)


def user_set_active(*, actor: User | None, user: User, active: bool) -> bool:
    """Deactivate (or reactivate) a person. Their history and quotas stay; their API keys
    stop working at once, because API authentication checks is_active on every request."""
    changed = User.objects.filter(pk=user.pk, is_active=not active).update(is_active=active)
    user.is_active = active
    if changed:
        audit_person(action="reactivated" if active else "deactivated", user=user, actor=actor)
    return changed == 1
