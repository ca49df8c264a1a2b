"""Usage report queries for staff: one date range in, plain rows out.

Counting rules, used by the page, the chart and the CSV alike:
- images are counted by when each image was stored (Image.created_at);
- generations and failures by when the generation was created; failure rates
  count finished generations only (queued/running ones haven't decided yet);
- "spent" is the images charged to quotas by generations created in the range
  (Generation.quota_used), so deleting images later does not rewrite it;
- the other quota columns are "now" (used this period, held, left): quota has no
  history of its own to replay.
Dates are the site's time zone (settings.TIME_ZONE); `end` is included.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Quota, User
from accounts.quota import budget
from accounts.quota.layers import LayerCache
from generations.models import Generation, Image
from generations.purged_counts import purged_per_day, purged_per_person
from providers.catalog import get_catalog

TOP_PEOPLE = 10
NO_CHANNEL = "(none)"


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # included

    def bounds(self) -> tuple[datetime, datetime]:
        """[start 00:00, the day after end 00:00) in the site's time zone."""
        tz = timezone.get_current_timezone()
        return (
            datetime.combine(self.start, time.min, tzinfo=tz),
            datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz),
        )

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


@dataclass(frozen=True)
class DailyRow:
    day: date
    model: str
    images: int


@dataclass(frozen=True)
class PersonRow:
    person: str
    generations: int
    images: int
    failed: int


@dataclass(frozen=True)
class RateRow:
    key: str  # a model or a channel
    finished: int
    failed: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.finished if self.finished else 0.0


@dataclass(frozen=True)
class QuotaRow:
    model: str
    free_quota: int  # the catalog's, per person
    spent: int  # images charged by generations created in the range
    used: int  # this period, everyone
    held: int  # reserved by running jobs now
    left: int  # still free for everyone active (people with a limit)
    unlimited_people: int


@dataclass(frozen=True)
class PresetRow:
    preset: str
    owner: str
    generations: int
    images: int


@dataclass(frozen=True)
class UsageReport:
    range: DateRange
    daily: list[DailyRow]
    people: list[PersonRow]
    by_model: list[RateRow]
    by_channel: list[RateRow]
    quota: list[QuotaRow]
    by_preset: list[PresetRow] = field(default_factory=list)

    @property
    def total_images(self) -> int:
        return sum(r.images for r in self.daily)

    def series(self) -> dict[str, list[int]]:
        """Images per model per day of the range, zeros filled in: the chart's data."""
        days = self.range.days()
        index = {d: i for i, d in enumerate(days)}
        series: dict[str, list[int]] = {}
        for row in self.daily:
            series.setdefault(row.model, [0] * len(days))[index[row.day]] += row.images
        return series


def _images(r: DateRange) -> QuerySet[Image]:
    start, end = r.bounds()
    return Image.objects.filter(created_at__gte=start, created_at__lt=end)


def _generations(r: DateRange) -> QuerySet[Generation]:
    start, end = r.bounds()
    return Generation.objects.filter(created_at__gte=start, created_at__lt=end)


def images_per_day(r: DateRange) -> list[DailyRow]:
    rows = (
        _images(r)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "generation__model")
        .annotate(images=Count("id"))
        .order_by("day", "generation__model")
    )
    counts = Counter({(row["day"], row["generation__model"]): row["images"] for row in rows})
    counts.update(purged_per_day(*r.bounds()))  # retention and erasure don't rewrite history
    return [DailyRow(day, model, n) for (day, model), n in sorted(counts.items())]


def top_people(r: DateRange, limit: int = TOP_PEOPLE) -> list[PersonRow]:
    images = dict(
        _images(r)
        .values("generation__user")
        .annotate(n=Count("id"))
        .values_list("generation__user", "n")
    )
    for pk, purged in purged_per_person(*r.bounds()).items():
        images[pk] = images.get(pk, 0) + purged
    jobs: dict[int, tuple[int, int]] = {
        row["user"]: (row["total"], row["failed"])
        for row in _generations(r)
        .values("user")
        .annotate(total=Count("id"), failed=Count("id", filter=Q(status=Generation.Status.FAILED)))
    }
    names = dict(User.objects.filter(pk__in=set(images) | set(jobs)).values_list("pk", "username"))
    rows = [
        PersonRow(name, jobs.get(pk, (0, 0))[0], images.get(pk, 0), jobs.get(pk, (0, 0))[1])
        for pk, name in names.items()
    ]
    rows.sort(key=lambda p: (-p.images, -p.generations, p.person))
    return rows[:limit]


def failure_rates(r: DateRange, by: str) -> list[RateRow]:
    """Finished generations and failures per `model` or per `channel`."""
    if by not in {"model", "channel"}:
        raise ValueError(by)
    rows = (
        _generations(r)
        .filter(status__in=Generation.FINISHED)
        .values(by)
        .annotate(total=Count("id"), failed=Count("id", filter=Q(status=Generation.Status.FAILED)))
        .order_by(by)
    )
    return [RateRow(row[by] or NO_CHANNEL, row["total"], row["failed"]) for row in rows]


def images_charged(r: DateRange) -> dict[str, int]:
    """Images charged per model by the generations created in the range."""
    rows = _generations(r).values("model").annotate(n=Sum("quota_used")).values_list("model", "n")
    return {model: n or 0 for model, n in rows}


def quota_balance(r: DateRange) -> list[QuotaRow]:
    """Per catalog model: images charged in the range beside the quota left now."""
    spent = images_charged(r)
    active = list(User.objects.filter(is_active=True).values_list("pk", flat=True))
    quotas = {(q.user_id, q.model): q for q in Quota.objects.filter(user_id__in=active)}
    totals: dict[str, tuple[int, int]] = {
        row["model"]: (row["used"] or 0, row["held"] or 0)
        for row in Quota.objects.filter(user_id__in=active)
        .values("model")
        .annotate(used=Sum("used"), held=Sum("reserved"))
    }
    layers = LayerCache(user_ids=active)
    rows = []
    for spec in get_catalog().models.values():
        left = unlimited = 0
        for pk in active:
            quota = quotas.get((pk, spec.name))
            limit = layers.resolve(user_id=pk, model=spec.name, quota=quota).limit
            if limit is None:
                unlimited += 1
            else:
                counts = (quota.used, quota.reserved) if quota else (0, 0)
                left += budget.left(limit, *counts) or 0
        used, held = totals.get(spec.name, (0, 0))
        rows.append(
            QuotaRow(
                spec.name, spec.free_quota, spent.get(spec.name, 0), used, held, left, unlimited
            )
        )
    return rows


def generations_per_preset(r: DateRange) -> list[PresetRow]:
    """Generations created in the range from each preset of the prompt library, busiest first.
    (A deleted preset's generations no longer name it, so they are not counted here.)"""
    rows = (
        _generations(r)
        .filter(preset__isnull=False)
        .values("preset__name", "preset__owner__username")
        .annotate(n=Count("id"), charged=Sum("quota_used"))
        .order_by("-n", "preset__name")
    )
    return [
        PresetRow(
            row["preset__name"], row["preset__owner__username"], row["n"], row["charged"] or 0
        )
        for row in rows
    ]


def usage_report(r: DateRange) -> UsageReport:
    daily = images_per_day(r)
    return UsageReport(
        range=r,
        daily=daily,
        people=top_people(r),
        by_model=failure_rates(r, "model"),
        by_channel=failure_rates(r, "channel"),
        quota=quota_balance(r),
        by_preset=generations_per_preset(r),
    )


# The CSV export: the same rows as the page, one table per file.
CSV_TABLES = ("daily", "people", "models", "channels", "quota", "presets")


def csv_rows(report: UsageReport, table: str) -> list[list[object]]:
    if table == "daily":
        return [
            ["day", "model", "images"],
            *([r.day.isoformat(), r.model, r.images] for r in report.daily),
        ]
    if table == "people":
        return [
            ["person", "generations", "images", "failed"],
            *([p.person, p.generations, p.images, p.failed] for p in report.people),
        ]
    if table in {"models", "channels"}:
        rows = report.by_model if table == "models" else report.by_channel
        return [
            [table[:-1], "finished", "failed", "failure_rate"],
            *([r.key, r.finished, r.failed, f"{r.failure_rate:.4f}"] for r in rows),
        ]
    if table == "quota":
        return [
            ["model", "free_quota", "spent", "used", "held", "left", "unlimited_people"],
            *(
                [q.model, q.free_quota, q.spent, q.used, q.held, q.left, q.unlimited_people]
                for q in report.quota
            ),
        ]
    if table == "presets":
        return [
            ["preset", "owner", "generations", "images"],
            *([p.preset, p.owner, p.generations, p.images] for p in report.by_preset),
        ]
    raise ValueError(table)
