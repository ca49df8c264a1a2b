"""Operators' audited edits of prices, money budgets and the content policy.

The commands and the admin call these; each change leaves one audit entry with its
from/to values (accounts.audit).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction

from accounts.audit import audit_record
from generations.spend.budgets import month_start
from generations.spend.models import Budget, PolicyTerm
from generations.spend.moderation import pattern_check
from providers.models import Channel, Price
from providers.pricing import ZERO, currency, price_set


def price_change(
    *, channel: Channel, model: str, per_image: Decimal, per_megapixel: Decimal = ZERO
) -> Price:
    with transaction.atomic():
        change = price_set(
            channel=channel, model=model, per_image=per_image, per_megapixel=per_megapixel
        )
        new = f"{per_image}/image + {per_megapixel}/MP {currency()}"
        old = "none" if change.old is None else f"{change.old[0]}/image + {change.old[1]}/MP"
        audit_record(
            action="price set",
            subject=f"{model} via {channel.name}",
            target_type="price",
            target_id=change.price.pk,
            model=model,
            field="price",
            old=old,
            new=new,
        )
    return change.price


def budget_change(
    *, group: Group | None, monthly: Decimal, hard: bool, alert_to: list[Any] | None = None
) -> Budget:
    """Create or change the group's (None: the instance's) monthly budget."""
    if monthly < 0:
        raise ValueError("a budget is an amount >= 0")
    with transaction.atomic():
        budget, created = Budget.objects.get_or_create(
            group=group,
            is_instance=group is None,
            defaults={"monthly": monthly, "hard": hard, "period_start": month_start()},
        )
        old = "none" if created else f"{budget.monthly} {'hard' if budget.hard else 'soft'}"
        Budget.objects.filter(pk=budget.pk).update(monthly=monthly, hard=hard)
        if alert_to is not None:
            budget.alert_to.set(alert_to)
        budget.refresh_from_db()
        audit_record(
            action="budget set",
            subject=str(budget),
            target_type="budget",
            target_id=budget.pk,
            group=group,
            field="monthly budget",
            old=old,
            new=f"{monthly} {'hard' if hard else 'soft'} {currency()}",
        )
    return budget


def policy_block(*, term: str, group: Group | None = None, pattern: bool = False) -> PolicyTerm:
    if pattern:
        pattern_check(term)
    kind = PolicyTerm.Kind.PATTERN if pattern else PolicyTerm.Kind.TERM
    with transaction.atomic():
        row, created = PolicyTerm.objects.get_or_create(
            term=term, group=group, defaults={"kind": kind}
        )
        if created:
            audit_record(
                action="policy term blocked",
                subject=row.policy,
                target_type="policy",
                target_id=row.pk,
                group=group,
                detail={"kind": kind, "term": term},
            )
    return row


def policy_unblock(*, term: str, group: Group | None = None, everywhere: bool = False) -> int:
    """Remove the term from the group's (None: the instance's) policy, or from all."""
    with transaction.atomic():
        matching = PolicyTerm.objects.filter(term=term)
        rows = list(matching if everywhere else matching.filter(group=group))
        for row in rows:
            audit_record(
                action="policy term unblocked",
                subject=row.policy,
                target_type="policy",
                target_id=row.pk,
                group=row.group,
                detail={"term": term},
            )
            row.delete()
    return len(rows)
