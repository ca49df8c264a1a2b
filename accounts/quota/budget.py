"""The budget algebra: one reserve, settle, roll and "left" for every image budget.

Three budgets count images the same way: a person's quota for a model (`Quota`), a
group's shared pool (`GroupPool`) and an API key's cap (`ApiKey`). Each has a limit,
the images used this period, the images held by jobs in flight and the moment its
period started; only the column names differ, and a `Budget` names them.

Every write is one conditional UPDATE judged by the database under the row lock:
`reserve` holds n images only while `used + reserved + n <= limit`, `settle` turns a
reservation into used images (and gives the rest back), `roll` zeroes `used` only on
a row still counting from before the current period's start, so running it twice (or
twice at once) changes nothing. Nothing here saves a whole row, so no write overwrites
a counter another request moved in the meantime: no lost update, no double count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Greatest

from accounts.models import ApiKey, GroupPool, Quota
from accounts.quota.layers import period_start


@dataclass(frozen=True)
class Budget:
    """Where one kind of budget keeps its counters."""

    model: type[models.Model]
    used: str = "used"
    reserved: str = "reserved"
    since: str = "used_since"


# What a budget counts: images, or money (generations.spend.budgets, with money columns).
Amount = int | Decimal

PERSON = Budget(Quota)
POOL = Budget(GroupPool)
KEY = Budget(ApiKey, used="cap_used", reserved="cap_reserved", since="cap_since")


def left(limit: int | None, used: int, reserved: int) -> int | None:
    """Images still free under `limit` (None: unlimited)."""
    if limit is None:
        return None
    return max(0, limit - used - reserved)


def reserve(
    budget: Budget, rows: models.QuerySet[Any], *, limit: Amount | F | None, n: Amount
) -> bool:
    """Hold n images (or, for a money budget, an amount) on the one row `rows` selects,
    if they fit under `limit`.

    `rows` carries the caller's guards (the limit it read is still the row's), so a
    limit changed between the read and this UPDATE matches no row. A limit given as a
    column (`F("monthly")`) is the row's own, read by the UPDATE itself.
    """
    if limit is not None:
        room = limit - n if isinstance(limit, F) else Value(limit - n)
        rows = rows.filter(**{f"{budget.used}__lte": room - F(budget.reserved)})
    return rows.update(**{budget.reserved: F(budget.reserved) + n}) == 1


def settle(
    budget: Budget, rows: models.QuerySet[Any], *, reserved: int, used: int, **also: Any
) -> int:
    """Turn `reserved` held images on `rows` into `used` ones and give the rest back."""
    return rows.update(
        **{
            budget.reserved: Greatest(F(budget.reserved) - reserved, Value(0)),
            budget.used: F(budget.used) + used,
        },
        **also,
    )


def roll(budget: Budget, pk: Any, *, period: str, now: datetime | None = None, **also: Any) -> int:
    """Start the current period on the row if it still counts from an earlier one."""
    start = period_start(period, now)
    if start is None:
        return 0
    return budget.model._default_manager.filter(pk=pk, **{f"{budget.since}__lt": start}).update(
        **{budget.used: 0, budget.since: start}, **also
    )


def counters(budget: Budget, pk: Any) -> tuple[int, int]:
    """The row's (used, reserved) as they are now."""
    row = budget.model._default_manager.values(budget.used, budget.reserved).get(pk=pk)
    return row[budget.used], row[budget.reserved]
