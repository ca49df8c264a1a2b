"""OpenAI's organisation usage and costs, from Darkroom's own rows.

`costs`: daily buckets of `amount {value, currency}` (the spend lines of
generations.reports.spend), grouped by `line_item` (a model) and/or `project_id`
(a group). `images`: daily buckets of `images` (images charged) and
`num_model_requests` (generations), grouped by `model`, `user_id`, `api_key_id`,
`size`, `source` (`image.generation` or `image.edit`) and `project_id`.
Pages hold `limit` buckets; `next_page` is the start of the next bucket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef

from generations.models import Generation, ReferenceImage
from generations.reports.spend import groups_of, spend_lines
from providers.pricing import ZERO, currency

DAY = 86400
COST_GROUPS = ("line_item", "project_id")
IMAGE_GROUPS = ("model", "user_id", "api_key_id", "size", "source", "project_id")


class BadQuery(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Query:
    start: int  # unix seconds, a bucket boundary
    end: int
    group_by: tuple[str, ...]
    limit: int

    def buckets(self) -> list[tuple[int, int]]:
        stops = range(self.start, self.end, DAY)
        return [(s, min(s + DAY, self.end)) for s in stops]


def parse_query(get: Any, *, groups: tuple[str, ...], default_limit: int, max_limit: int) -> Query:
    start = _int(get.get("start_time"), "start_time", required=True)
    page = get.get("page")
    if page:
        start = _int(page, "page", required=True)
    end = _int(get.get("end_time"), "end_time", required=False) or start + max_limit * DAY
    if get.get("bucket_width", "1d") != "1d":
        raise BadQuery("Only bucket_width=1d is supported.", "bucket_width")
    limit = _int(get.get("limit"), "limit", required=False) or default_limit
    if not 1 <= limit <= max_limit:
        raise BadQuery(f"'limit' must be between 1 and {max_limit}.", "limit")
    if end <= start:
        raise BadQuery("'end_time' must be after 'start_time'.", "end_time")
    group_by = tuple(
        g
        for raw in get.getlist("group_by") + get.getlist("group_by[]")
        for g in raw.split(",")
        if g
    )
    for g in group_by:
        if g not in groups:
            raise BadQuery(f"'group_by' takes {', '.join(groups)}; got {g!r}.", "group_by")
    # Buckets are whole UTC days; a `page` is the start of one already.
    return Query(start - start % DAY, end, group_by, limit)


def _int(raw: Any, param: str, *, required: bool) -> int:
    if raw in (None, ""):
        if required:
            raise BadQuery(f"'{param}' is required.", param)
        return 0
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadQuery(f"'{param}' must be an integer.", param) from None
    if value < 0:
        raise BadQuery(f"'{param}' must be >= 0.", param)
    return value


def _when(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _page(q: Query, fill: Callable[[int, int], list[dict[str, Any]]]) -> dict[str, Any]:
    buckets = q.buckets()
    shown, rest = buckets[: q.limit], buckets[q.limit :]
    return {
        "object": "page",
        "data": [
            {"object": "bucket", "start_time": s, "end_time": e, "results": fill(s, e)}
            for s, e in shown
        ],
        "has_more": bool(rest),
        "next_page": str(rest[0][0]) if rest else None,
    }


def costs_page(q: Query) -> dict[str, Any]:
    lines = spend_lines(_when(q.start), _when(min(q.end, q.start + q.limit * DAY))).lines

    def fill(s: int, e: int) -> list[dict[str, Any]]:
        sums: dict[tuple[str | None, ...], Decimal] = defaultdict(lambda: ZERO)
        for line in lines:
            if s <= line.at.timestamp() < e:
                key = tuple(
                    (line.model if g == "line_item" else line.group or None) for g in q.group_by
                )
                sums[key] += line.amount
        return [
            {
                "object": "organization.costs.result",
                "amount": {"value": value, "currency": currency().lower()},
                **_named(q.group_by, key, {"line_item": None, "project_id": None}),
            }
            for key, value in sorted(sums.items(), key=lambda kv: str(kv[0]))
        ]

    return _page(q, fill)


def _named(
    group_by: tuple[str, ...], key: tuple[Any, ...], blank: dict[str, Any]
) -> dict[str, Any]:
    return {**blank, **dict(zip(group_by, key, strict=True))}


def images_page(q: Query) -> dict[str, Any]:
    end = min(q.end, q.start + q.limit * DAY)
    jobs = list(_image_rows(_when(q.start), _when(end)))
    blank = dict.fromkeys(IMAGE_GROUPS)

    def fill(s: int, e: int) -> list[dict[str, Any]]:
        sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
        for job in jobs:
            if s <= job["created_at"].timestamp() < e:
                key = tuple(job[g] for g in q.group_by)
                sums[key][0] += job["quota_used"]
                sums[key][1] += 1
        return [
            {
                "object": "organization.usage.images.result",
                "images": images,
                "num_model_requests": requests,
                **_named(q.group_by, key, blank),
            }
            for key, (images, requests) in sorted(sums.items(), key=lambda kv: str(kv[0]))
        ]

    return _page(q, fill)


def _image_rows(start: datetime, end: datetime) -> Iterable[dict[str, Any]]:
    refs = ReferenceImage.objects.filter(generation=OuterRef("pk"))
    rows = list(
        Generation.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(edit=Exists(refs))
        .values(
            "pk",
            "created_at",
            "model",
            "user_id",
            "api_key_id",
            "params",
            "quota_used",
            "edit",
            "budgets",
        )
    )
    groups = groups_of({r["user_id"] for r in rows}, rows)
    for row in rows:
        yield {
            "created_at": row["created_at"],
            "quota_used": row["quota_used"],
            "model": row["model"],
            "user_id": str(row["user_id"]),
            "api_key_id": str(row["api_key_id"]) if row["api_key_id"] else None,
            "size": (row["params"] or {}).get("size"),
            "source": "image.edit" if row["edit"] else "image.generation",
            "project_id": groups.get((row["pk"], row["user_id"])) or None,
        }
