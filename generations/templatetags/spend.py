"""A person's own spend ("Your usage") and the budget their jobs count against
(generate page); staff's budget-alert banner (admin). Template tags, so the accounts
pages can show generations' figures without an import pointing back."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import template
from django.utils import timezone

from generations.models import BudgetAlert
from generations.reports.spend import spend_lines
from generations.spend.budgets import charged_group, month_start
from providers.pricing import currency

register = template.Library()


@register.inclusion_tag("generations/_own_spend.html")
def own_spend(user: Any) -> dict[str, Any]:
    """This month's spend of the person's jobs, per model, and what bought nothing."""
    start = timezone.make_aware(datetime.combine(month_start(), time.min))
    lines = spend_lines(start, timezone.now() + timedelta(seconds=1), user=user)
    return {
        "by_model": lines.by("model"),
        "total": lines.total,
        "undelivered": lines.undelivered,
        "currency": currency(),
    }


@register.simple_tag
def budget_group(user: Any) -> str:
    group = charged_group(user)
    return group.name if group is not None else ""


@register.inclusion_tag("admin/_budget_banner.html")
def budget_banner() -> dict[str, Any]:
    alerts = BudgetAlert.objects.filter(period_start=month_start()).select_related("budget__group")
    latest: dict[int, BudgetAlert] = {}
    for alert in alerts:  # the highest threshold crossed per budget this month
        if alert.budget_id not in latest or alert.threshold > latest[alert.budget_id].threshold:
            latest[alert.budget_id] = alert
    return {"alerts": list(latest.values())}
