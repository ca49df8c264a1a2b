"""Spend: one line per paid upstream attempt, and its totals per day and per dimension.

Every figure (the staff report, its chart and CSV, "Your usage", and
/v1/organization/costs) is a sum of these lines, so they agree to the cent:
- a line is an attempt entry with a cost (generations.spend.costs), dated by the
  attempt's own time, at the price in force then (copied into the entry);
- "delivered" is the attempt whose images were stored; every other paid attempt
  (failed, retried, re-sent) is "paid but not delivered";
- a job's group is the group whose budget it counted against, else the person's
  first group by name ("" if none): the project of the costs endpoint.
Attempts refused by the upstream cost nothing; they are counted apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from generations.models import Budget, Generation
from generations.spend.costs import entry_cost, is_refused
from providers.pricing import ZERO


@dataclass(frozen=True)
class SpendLine:
    at: datetime
    user_id: int
    person: str
    group: str
    model: str
    channel: str
    api_key_id: str
    generation_id: str
    amount: Decimal
    delivered: bool

    @property
    def day(self) -> date:
        return timezone.localtime(self.at).date()


@dataclass(frozen=True)
class SpendLines:
    lines: list[SpendLine]
    refused: int  # upstream calls refused (cost nothing)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def undelivered(self) -> Decimal:
        return sum((line.amount for line in self.lines if not line.delivered), ZERO)

    def by(self, dimension: str) -> list[tuple[str, Decimal]]:
        sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for line in self.lines:
            sums[str(getattr(line, dimension))] += line.amount
        return sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))

    def per_day(self, days: list[date], dimension: str = "model") -> dict[str, list[Decimal]]:
        """Spend per day of each person, group, model, channel or key (zeros filled in):
        the chart's data."""
        index = {d: i for i, d in enumerate(days)}
        series: dict[str, list[Decimal]] = {}
        for line in self.lines:
            if line.day in index:
                key = str(getattr(line, dimension))
                series.setdefault(key, [ZERO] * len(days))[index[line.day]] += line.amount
        return series


def spend_lines(start: datetime, end: datetime, *, user: Any = None) -> SpendLines:
    """Paid attempts made in [start, end), of everyone or of one person."""
    # An attempt comes after its job was created, at most a job deadline later.
    earliest = start - timedelta(seconds=settings.DARKROOM_JOB_DEADLINE + 3600)
    jobs = Generation.objects.filter(created_at__gte=earliest, created_at__lt=end).exclude(
        attempts=[]
    )
    if user is not None:
        jobs = jobs.filter(user=user)
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in jobs.values(
            "pk", "user_id", "model", "api_key_id", "status", "attempts", "budgets"
        )
    ]
    groups = groups_of({row["user_id"] for row in rows}, rows)
    names = dict(
        User.objects.filter(pk__in={r["user_id"] for r in rows}).values_list("pk", "username")
    )
    lines: list[SpendLine] = []
    refused = 0
    for row in rows:
        delivering = _delivering(row)
        for i, entry in enumerate(row["attempts"]):
            at = parse_datetime(str(entry.get("at", "")))
            if at is None or not start <= at < end:
                continue
            refused += is_refused(entry)
            amount = entry_cost(entry)
            if amount <= 0:
                continue
            lines.append(
                SpendLine(
                    at=at,
                    user_id=row["user_id"],
                    person=names.get(row["user_id"], ""),
                    group=groups.get((row["pk"], row["user_id"]), ""),
                    model=row["model"],
                    channel=str(entry.get("channel", "")),
                    api_key_id=str(row["api_key_id"] or ""),
                    generation_id=str(row["pk"]),
                    amount=amount,
                    delivered=i == delivering,
                )
            )
    lines.sort(key=lambda line: line.at)
    return SpendLines(lines, refused)


def _delivering(row: dict[str, Any]) -> int:
    """Index of the attempt whose images were stored (-1: none)."""
    if row["status"] != Generation.Status.SUCCEEDED:
        return -1
    paid = [i for i, a in enumerate(row["attempts"]) if a.get("ok") and entry_cost(a) > 0]
    return paid[-1] if paid else -1


def groups_of(user_ids: set[int], rows: list[dict[str, Any]]) -> dict[tuple[Any, int], str]:
    budget_groups = dict(
        Budget.objects.filter(group__isnull=False).values_list("pk", "group__name")
    )
    first: dict[int, str] = {}
    for uid, name in (
        Group.objects.filter(Q(user__in=user_ids)).order_by("name").values_list("user", "name")
    ):
        first.setdefault(uid, name)
    out = {}
    for row in rows:
        charged = [budget_groups[b] for b in row["budgets"] or [] if b in budget_groups]
        out[(row["pk"], row["user_id"])] = charged[0] if charged else first.get(row["user_id"], "")
    return out


# The spend report's CSV tables: one file each, the same lines as the page.
CSV_TABLES = ("daily", "person", "group", "model", "channel", "api_key", "attempts")
DIMENSIONS = ("person", "group", "model", "channel", "api_key_id")


def dimension_of(table: str) -> str:
    """The SpendLine field a report table (and its CSV) is about."""
    return "api_key_id" if table == "api_key" else table


def spend_csv(lines: SpendLines, table: str, days: list[date]) -> list[list[object]]:
    if table == "attempts":
        header: list[object] = ["at", "person", "group", "model", "channel", "api_key", "job"]
        body: list[list[object]] = [
            [
                line.at.isoformat(),
                line.person,
                line.group,
                line.model,
                line.channel,
                line.api_key_id,
                line.generation_id,
                str(line.amount),
                "yes" if line.delivered else "no",
            ]
            for line in lines.lines
        ]
        return [[*header, "amount", "delivered"], *body]
    table = "model" if table == "daily" else table  # the chart's default series
    dimension = dimension_of(table)
    if dimension not in DIMENSIONS:
        raise ValueError(table)
    # Per day, as the chart: one row per day and person (group, model, channel, key).
    rows: list[list[object]] = [
        [day.isoformat(), key, str(values[i])]
        for key, values in lines.per_day(days, dimension).items()
        for i, day in enumerate(days)
        if values[i]
    ]
    return [["day", table, "amount"], *sorted(rows)]
