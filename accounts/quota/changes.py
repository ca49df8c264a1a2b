"""Audited quota changes by admins and the periodic reset: lock, write the changed columns, log.

Each one locks the one row (select_for_update), writes only the columns it changes and
appends its audit row, all in one transaction. Nothing here saves a whole Quota row, so
no change can overwrite `used` or `reserved` moved by a request in the meantime: no lost
update, no double count. `actor` None means the system (the periodic reset).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEntry, GroupQuota, ModelQuotaPolicy, Period, Quota, User
from accounts.quota import budget
from accounts.quota.budget import PERSON
from accounts.quota.layers import LayerCache, Layered, catalog_free_quota, layered_for, period_start
from providers.catalog import get_catalog

log = logging.getLogger(__name__)


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()


def audit_quota_change(
    *,
    actor: User | None,
    model: str,
    action: str,
    field: str,
    old: str,
    new: str,
    reason: str = "",
    user: User | None = None,
    group: Group | None = None,
    target: tuple[str, str] | None = None,
) -> AuditEntry:
    """`target`: (type, id) when the change is to something else than a quota (a key)."""
    subject = user.get_username() if user is not None else f"group {group.name if group else ''}"
    owner = user if user is not None else group
    target_type, target_id = target or ("quota", str(owner.pk) if owner is not None else "")
    return audit_record(
        action=action,
        subject=subject,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        user=user,
        group=group,
        model=model,
        field=field,
        old=old,
        new=new,
        reason=reason,
    )


def _limit_text(limit: int | None) -> str:
    return "inherit" if limit is None else str(limit)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _layer_text(layered: Layered) -> str:
    return f"{layered.limit_display} ({layered.source})"


def _locked(user: User, model: str) -> Quota:
    """Inside a transaction: the person's row for the model, created if missing, locked."""
    catalog_free_quota(model)
    Quota.objects.get_or_create(user=user, model=model)
    return Quota.objects.select_for_update().get(user=user, model=model)


def quota_grant(*, actor: User | None, user: User, model: str, n: int, reason: str = "") -> bool:
    """Give the person n more images of a model than their effective limit allows now.

    The new limit goes on the person's own row, so it overrides group and catalog from
    then on. Returns False, changing nothing, when the person is already unlimited.
    """
    if n < 1:
        raise ValueError("a grant is at least 1 image")
    with transaction.atomic():
        quota = _locked(user, model)
        layered = layered_for(user=user, model=model, quota=quota)
        if layered.limit is None:
            return False
        new = layered.limit + n
        Quota.objects.filter(pk=quota.pk).update(limit=new, updated_at=timezone.now())
        audit_quota_change(
            actor=actor,
            user=user,
            model=model,
            action="grant",
            field="limit",
            old=_layer_text(layered),
            new=str(new),
            reason=reason,
        )
    return True


def quota_grant_group(
    *, actor: User | None, group: Group, model: str, n: int, reason: str = ""
) -> int:
    """Grant n more images to every member of the group; returns how many got them."""
    catalog_free_quota(model)
    granted = 0
    with transaction.atomic():
        # In primary-key order, so two group grants at once lock rows in the same order.
        for member in group.user_set.order_by("pk"):
            granted += quota_grant(
                actor=actor,
                user=member,
                model=model,
                n=n,
                reason=reason or f"grant to group {group.name}",
            )
    return granted


def quota_reset_used(*, actor: User | None, user: User, model: str, reason: str = "") -> bool:
    """Set the person's used count for a model back to 0; False if it already was 0."""
    with transaction.atomic():
        quota = _locked(user, model)
        if quota.used == 0:
            return False
        Quota.objects.filter(pk=quota.pk).update(used=0, updated_at=timezone.now())
        audit_quota_change(
            actor=actor,
            user=user,
            model=model,
            action="reset used",
            field="used",
            old=str(quota.used),
            new="0",
            reason=reason,
        )
    return True


def quota_update(
    *,
    actor: User | None,
    user: User,
    model: str,
    limit: int | _Unchanged | None = UNCHANGED,
    unlimited: bool | _Unchanged = UNCHANGED,
    reason: str = "",
    action: str = "edit",
) -> list[str]:
    """Change the person's own layer (limit: None = inherit; unlimited); returns what changed.

    Only the named columns are written, never `used` or `reserved`.
    """
    with transaction.atomic():
        quota = _locked(user, model)
        changes: dict[str, object] = {}
        if not isinstance(limit, _Unchanged) and limit != quota.limit:
            changes["limit"] = limit
            audit_quota_change(
                actor=actor,
                user=user,
                model=model,
                action=action,
                field="limit",
                old=_limit_text(quota.limit),
                new=_limit_text(limit),
                reason=reason,
            )
        if not isinstance(unlimited, _Unchanged) and unlimited != quota.unlimited:
            changes["unlimited"] = unlimited
            audit_quota_change(
                actor=actor,
                user=user,
                model=model,
                action=action,
                field="unlimited",
                old=_yes_no(quota.unlimited),
                new=_yes_no(unlimited),
                reason=reason,
            )
        if changes:
            Quota.objects.filter(pk=quota.pk).update(**changes, updated_at=timezone.now())
    return list(changes)


def quota_set_unlimited(
    *, actor: User | None, user: User, model: str, unlimited: bool = True, reason: str = ""
) -> bool:
    action = "set unlimited" if unlimited else "clear unlimited"
    return bool(
        quota_update(
            actor=actor, user=user, model=model, unlimited=unlimited, reason=reason, action=action
        )
    )


def group_quota_update(
    *,
    actor: User | None,
    group: Group,
    model: str,
    limit: int | _Unchanged | None = UNCHANGED,
    unlimited: bool | _Unchanged = UNCHANGED,
    period: str | _Unchanged = UNCHANGED,
    reason: str = "",
    action: str = "edit",
) -> list[str]:
    """Change a group's layer for one model (limit None / period "" = inherit)."""
    catalog_free_quota(model)
    wanted = {"limit": limit, "unlimited": unlimited, "period": period}
    with transaction.atomic():
        GroupQuota.objects.get_or_create(group=group, model=model)
        row = GroupQuota.objects.select_for_update().get(group=group, model=model)
        changes: dict[str, object] = {}
        for field, value in wanted.items():
            old = getattr(row, field)
            if isinstance(value, _Unchanged) or value == old:
                continue
            changes[field] = value
            audit_quota_change(
                actor=actor,
                group=group,
                model=model,
                action=action,
                field=field,
                old=_group_text(field, old),
                new=_group_text(field, value),
                reason=reason,
            )
        if changes:
            GroupQuota.objects.filter(pk=row.pk).update(**changes)
    return list(changes)


def _group_text(field: str, value: object) -> str:
    if field == "limit":
        return _limit_text(value)  # type: ignore[arg-type]
    if field == "unlimited":
        return _yes_no(bool(value))
    return str(value) or "inherit"


def model_period_set(*, actor: User | None, model: str, period: str, reason: str = "") -> bool:
    """Set how often a model's quota resets for everyone without a group period."""
    catalog_free_quota(model)
    Period(period)  # refuse an unknown period before writing anything
    with transaction.atomic():
        ModelQuotaPolicy.objects.get_or_create(model=model)
        row = ModelQuotaPolicy.objects.select_for_update().get(model=model)
        if row.period == period:
            return False
        ModelQuotaPolicy.objects.filter(pk=row.pk).update(period=period)
        audit_quota_change(
            actor=actor,
            model=model,
            action="edit",
            field="period",
            old=row.period,
            new=period,
            reason=reason,
        )
    return True


def quota_reset_periods(*, now: datetime | None = None) -> int:
    """Start a new period for every quota whose period has turned; returns how many reset.

    Safe to run twice, or twice at once: a row is reset only if it counts from before
    the current period start, checked again under its row lock, and the reset moves
    `used_since` to that start. `reserved` is left alone: jobs in flight settle into
    the new period.
    """
    now = now or timezone.now()
    layers = LayerCache()
    catalog = get_catalog()
    reset = 0
    for quota in Quota.objects.only("pk", "user_id", "model", "limit", "unlimited", "used_since"):
        if catalog.get(quota.model) is None:
            continue
        layered = layers.resolve(user_id=quota.user_id, model=quota.model, quota=quota)
        start = period_start(layered.period, now)
        if start is not None and quota.used_since < start:
            reset += _reset_for_period(quota.pk, start, layered.period)
    return reset


def _reset_for_period(pk: int, start: datetime, period: str) -> int:
    """Reset one row under its lock, so the audit entry names the `used` it cleared."""
    with transaction.atomic():
        locked = Quota.objects.select_for_update().get(pk=pk)
        if locked.used_since >= start:
            return 0  # another run reset it first
        budget.roll(PERSON, pk, period=period, now=start, updated_at=timezone.now())
        if not locked.used:
            return 0
        audit_quota_change(
            actor=None,
            user=locked.user,
            model=locked.model,
            action="period reset",
            field="used",
            old=str(locked.used),
            new="0",
            reason=f"{Period(period).label} reset, period from {start:%Y-%m-%d}",
        )
    log.info("reset %s quota of user %s for %s", period, locked.user_id, locked.model)
    return 1
