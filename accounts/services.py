"""Quota writes. Each change is one conditional UPDATE: no read-modify-write, so
concurrent requests can never overdraw a quota or lose an admin's change."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Value
from django.db.models.functions import Greatest

from common.errors import ModelNotFound, QuotaExceeded
from providers.catalog import get_catalog

from .models import Quota, User


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
    """The person's limit for a model: their own if set, else the catalog's free quota.

    None means unlimited.
    """
    if quota is not None and quota.limit is not None:
        return quota.limit
    spec = get_catalog().get(model)
    if spec is None:
        raise ModelNotFound(f"The model '{model}' does not exist.", param="model")
    return spec.free_quota


def _row(user: User, model: str) -> Quota:
    quota, _ = Quota.objects.get_or_create(user=user, model=model)
    return quota


def quota_status(*, user: User, model: str) -> QuotaStatus:
    quota = _row(user, model)
    return QuotaStatus(model, effective_limit(user=user, model=model, quota=quota),
                       quota.used, quota.reserved)


def quota_reserve(*, user: User, model: str, n: int) -> None:
    """Hold n images for a request, or refuse it whole with how many are left."""
    quota = _row(user, model)
    limit = effective_limit(user=user, model=model, quota=quota)
    rows = Quota.objects.filter(pk=quota.pk)
    if limit is not None:
        # used + reserved + n <= limit, evaluated by the database under the row lock
        rows = rows.filter(used__lte=Value(limit - n) - F("reserved"))
    if rows.update(reserved=F("reserved") + n) == 1:
        return
    left = quota_status(user=user, model=model).left or 0
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


def quota_set_limit(*, user: User, model: str, limit: int | None) -> QuotaStatus:
    if get_catalog().get(model) is None:
        raise ModelNotFound(f"The model '{model}' does not exist.", param="model")
    quota = _row(user, model)
    Quota.objects.filter(pk=quota.pk).update(limit=limit)
    return quota_status(user=user, model=model)
