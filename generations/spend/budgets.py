"""Money budgets: reserve the most a job could cost, settle what it did cost.

Built on the quota algebra (accounts.quota.budget) with money columns: a reservation
is one conditional UPDATE judged by the database under the row lock
(`spent + reserved + amount <= monthly` for a hard budget), settlement happens once,
in the job's finishing transaction, under its quota_state guard, and a new month
starts by the algebra's idempotent roll.

Which budgets a job counts against, decided one way: the instance's budget (if any)
and the budget of the person's first group by name that has one (whether or not
the job draws on that group's image pool). The generate page names that group.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Period
from accounts.quota import budget as algebra
from common.errors import BudgetExhausted
from generations.spend.models import Budget, BudgetAlert
from providers.pricing import currency, dearest_cost

THRESHOLDS = (50, 80, 100)


def month_start(today: date | None = None) -> date:
    return (today or timezone.localdate()).replace(day=1)


def charged_group(user: Any) -> Group | None:
    """The group whose money budget the person's jobs count against (None: no group's)."""
    return Group.objects.filter(user=user, money_budget__isnull=False).order_by("name").first()


def budgets_for(user: Any) -> list[Budget]:
    """The budgets a job of this person counts against, in one order (no deadlocks)."""
    group = charged_group(user)
    q = Q(is_instance=True) | (Q(group=group) if group is not None else Q(pk__in=[]))
    return list(Budget.objects.filter(q).order_by("pk"))


# The algebra's view of a money budget: what it counts and since when.
MONEY = algebra.Budget(Budget, used="spent", reserved="reserved", since="period_start")


def _roll_period(budget_id: int) -> None:
    algebra.roll(MONEY, budget_id, period=Period.MONTHLY)


def budget_reserve(*, generation: Any) -> None:
    """Hold the most the job could cost on each of its budgets; BudgetExhausted if a hard
    one cannot hold it. Runs inside the job's creating transaction, before its quota."""
    budgets = budgets_for(generation.user)
    if not budgets:
        return
    amount = dearest_cost(model=generation.model, n=generation.n, params=generation.params)
    for budget in budgets:
        _roll_period(budget.pk)
        if not _hold(budget, amount):
            raise BudgetExhausted(_exhausted_message(budget))
    generation.budgets, generation.budget_reserved = [b.pk for b in budgets], amount
    type(generation).objects.filter(pk=generation.pk).update(
        budgets=generation.budgets, budget_reserved=amount
    )


def _hold(budget: Budget, amount: Any) -> bool:
    """The reservation: the algebra's one conditional UPDATE, judged by the database under
    the row lock (a concurrent one waits, then sees this one's amount); False if a hard
    budget has no room. Never read-then-write: that lets concurrent requests through on
    one reading."""
    rows = Budget.objects.filter(pk=budget.pk)
    if not budget.hard:
        return algebra.reserve(MONEY, rows, limit=None, n=amount)
    # Judged against the row's own limit, whatever an admin set since it was read; a
    # budget spent to the last cent holds nothing more, not even a job that costs nothing.
    rows = rows.filter(spent__lt=F("monthly"))
    return algebra.reserve(MONEY, rows, limit=F("monthly"), n=amount)


def _exhausted_message(budget: Budget) -> str:
    if budget.is_instance:
        return _("This month's spending budget for Darkroom is used up; ask an administrator.")
    return _(
        "This month's spending budget of the group %(group)s is used up; ask an administrator."
    ) % {"group": budget.group.name if budget.group else ""}


def budget_settle(*, generation: Any) -> None:
    """In the job's finishing transaction: release its hold, count what it cost, and
    record each threshold this crossed (sent after the commit, once per month)."""
    if not generation.budgets:
        return
    for budget_id in sorted(generation.budgets):
        algebra.settle(
            MONEY,
            Budget.objects.filter(pk=budget_id),
            reserved=generation.budget_reserved,
            used=generation.cost,
        )
        _record_alerts(budget_id)


def _record_alerts(budget_id: int) -> None:
    from generations.spend.alerts import send_alert

    budget = Budget.objects.filter(pk=budget_id).first()
    if budget is None or budget.monthly <= 0 or budget.period_start is None:
        return
    for threshold in THRESHOLDS:
        if budget.spent * 100 < budget.monthly * threshold:
            break
        alert = _alert_once(budget, budget.period_start, threshold)
        if alert is not None:
            transaction.on_commit(partial(send_alert, alert_id=alert.pk))


def _alert_once(budget: Budget, period: date, threshold: int) -> BudgetAlert | None:
    try:
        with transaction.atomic():  # a savepoint: a duplicate leaves the outer work intact
            return BudgetAlert.objects.create(
                budget=budget,
                period_start=period,
                threshold=threshold,
                spent=budget.spent,
                limit=budget.monthly,
                currency=currency(),
                next_try_at=timezone.now(),  # due: sent after the commit, retried if it fails
            )
    except IntegrityError:
        return None
