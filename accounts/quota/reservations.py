"""Reserving and settling a job's images: the person's quota, a group pool, the key's cap.

A request holds its images before anything is queued and is refused whole when a
budget has too few; the job settles later against exactly the budgets it held
(`Hold`, recorded on the job), never against another one. Every write goes through
the budget algebra (accounts.quota.budget): one conditional UPDATE each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from accounts.models import ApiKey, GroupPool, Quota, User
from accounts.quota import budget
from accounts.quota.budget import PERSON
from accounts.quota.caps import key_cap_reserve, key_cap_settle
from accounts.quota.changes import quota_update
from accounts.quota.layers import effective_limit
from accounts.quota.pools import drawable, pool_left, pool_reserve, pool_settle, pools_for
from accounts.quota.status import QuotaStatus, quota_status
from accounts.signals import quota_refused
from common.errors import QuotaExceeded

log = logging.getLogger(__name__)

OWN = "person"  # Hold.budget: the person's own quota
POOL = "pool"  # Hold.budget: a group pool


@dataclass(frozen=True)
class Hold:
    """Where a job's images are held: the person's own quota or one group pool, and
    how many under its API key's cap. The job records it and settles against it."""

    pool: GroupPool | None = None
    key_reserved: int = 0

    @property
    def budget(self) -> str:
        return OWN if self.pool is None else POOL


def quota_hold(*, user: User, model: str, n: int, key: ApiKey | None = None) -> Hold:
    """Hold n images from the person's own quota, else a group pool, then the key's cap.

    A group whose pool for this model is "only" makes its members draw from the pool
    alone; an "overflow" pool serves them once their own allowance is spent. Refused
    whole: call it inside the transaction that records the job, so a refusal by a
    later budget rolls back the earlier ones.
    """
    pool = _hold_images(user=user, model=model, n=n)
    key_reserved = key_cap_reserve(key=key, model=model, n=n) if key is not None else 0
    return Hold(pool, key_reserved)


def _hold_images(*, user: User, model: str, n: int) -> GroupPool | None:
    pools, only = drawable(pools_for(user=user, model=model))
    if only:
        pool = pool_reserve(pools=pools, n=n)
        if pool is None:
            left = max(pool_left(p) for p in pools)
            raise QuotaExceeded(
                f"Not enough images left in the {pools[0].group.name} pool for {model}: "
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


def quota_reserve(*, user: User, model: str, n: int) -> None:
    """Hold n images of the person's own quota, or refuse it whole with how many are left."""
    for _attempt in range(3):
        quota, _ = Quota.objects.get_or_create(user=user, model=model)
        limit = effective_limit(user=user, model=model, quota=quota)
        # The person's own layer as we read it: if an admin grant lands between that
        # read and this UPDATE, no row matches and we look again with the new limit,
        # so a request made while a grant is being written is judged by the grant.
        rows = Quota.objects.filter(pk=quota.pk, limit=quota.limit, unlimited=quota.unlimited)
        if budget.reserve(PERSON, rows, limit=limit, n=n):
            return
        if rows.exists():
            break
    left = quota_status(user=user, model=model).left or 0
    quota_refused.send(User, user=user, model=model, n=n)
    raise QuotaExceeded(
        f"Not enough free images left for {model}: {n} requested, {left} left.",
        left=left,
        param="n",
    )


def quota_release(
    *,
    user: User | int,
    model: str,
    held: str,
    pool_id: int | None,
    reserved: int,
    used: int,
    key_id: Any = None,
    key_reserved: int = 0,
) -> None:
    """Settle a job's reservation against exactly the budgets it held (`Hold.budget`).

    A pool deleted while the job ran (its group deleted) took the job's reservation
    with it: nothing is left to settle there, and the person's own quota, which the
    job never held, is not touched. The quota comes first, then the key's cap: the
    order submissions lock them in.
    """
    if held == POOL and pool_id is not None:
        pool_settle(pool_id=pool_id, reserved=reserved, used=used)
    elif held == POOL:
        log.info("the pool of a job of user %s for %s was deleted; nothing to settle", user, model)
    else:
        quota_settle(user=user, model=model, reserved=reserved, used=used)
    if key_id is not None:
        key_cap_settle(key_id=key_id, reserved=key_reserved, used=used)


def quota_settle(*, user: User | int, model: str, reserved: int, used: int) -> None:
    """Turn a reservation into `used` images and give the rest back (used may be 0)."""
    rows = Quota.objects.filter(user=user, model=model)
    budget.settle(PERSON, rows, reserved=reserved, used=used)


def quota_set_limit(
    *, user: User, model: str, limit: int | None, actor: User | None = None, reason: str = ""
) -> QuotaStatus:
    quota_update(actor=actor, user=user, model=model, limit=limit, reason=reason)
    return quota_status(user=user, model=model)
