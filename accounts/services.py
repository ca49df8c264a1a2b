"""Spending quota: each write is one conditional UPDATE (admin changes: accounts.quota_changes).

Nothing here saves a whole Quota row, so no write can overwrite `used` or `reserved`
moved by a request or an admin change in the meantime: no lost update, no double count.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Value
from django.db.models.functions import Greatest

from common.errors import QuotaExceeded

from .models import Quota, User
from .quota_changes import quota_update
from .selectors import catalog_free_quota, layered_for
from .signals import quota_refused


@dataclass(frozen=True)
class QuotaStatus:
    model: str
    limit: int | None  # None: unlimited
    used: int
    reserved: int

    @property
    def left(self) -> int | None:
        if self.limit is None:
            return None
        return max(0, self.limit - self.used - self.reserved)


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
    return QuotaStatus(
        model, effective_limit(user=user, model=model, quota=quota), quota.used, quota.reserved
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


def quota_settle(*, user: User, model: str, reserved: int, used: int) -> None:
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
    return changed == 1
