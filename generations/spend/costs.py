"""What each upstream attempt cost, and a job's totals.

An attempt costs the price in force when the upstream took the work: it answered
with a result or a job id, or the call went out and its outcome is unknown (a
timeout, a worker that died mid-call). An attempt the upstream refused (an error
answer, a refused connection) costs nothing and is counted apart ("refused").
Polls and downloads are not generating calls: their entries cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from providers.base import ProviderError
from providers.models import Price
from providers.pricing import (
    ZERO,
    cost_at,
    delivered_cost,
    megapixels,
    price_of,
    size_megapixels,
    terms_of,
)

# Outcomes unknown after the call went out: the upstream may have done (and billed) it.
UNKNOWN_OUTCOME = {"upstream_timeout", "interrupted_after_send"}
# Never sent: the channel could not serve the request at all.
NOT_SENT = {"channel_cannot_serve"}
GENERATING_PHASES = {"submit", "resume"}


class Unread:
    """attempt_cost's `terms` when the caller has not read the price."""


UNREAD = Unread()


def is_billed(*, phase: str, error: ProviderError | None, code: str = "") -> bool:
    if phase not in GENERATING_PHASES:
        return False
    return error is None or (code or error.code) in UNKNOWN_OUTCOME


def attempt_cost(
    generation: Any,
    channel: str,
    error: ProviderError | None,
    *,
    phase: str,
    code: str = "",
    terms: tuple[Decimal, Decimal] | Unread | None = UNREAD,
) -> dict[str, Any]:
    """The `cost` field of one attempt entry (a Decimal as text: JSON has no decimals),
    at the requested size; with the `price` in force then, so the call that delivers is
    settled at the size it delivered (settle_delivered) at that same price."""
    if not is_billed(phase=phase, error=error, code=code):
        return {"cost": "0"}
    # One read of the price: the terms kept and the amount are at the same price.
    # `terms`: the price read with the channel before the call (providers.channels).
    if isinstance(terms, Unread):
        price = price_of(channel=channel, model=generation.model)
    else:
        price = None if terms is None else Price(per_image=terms[0], per_megapixel=terms[1])
    if price is None:
        return {"cost": "0"}
    amount = cost_at(price, n=generation.n, params=generation.params)
    return {"cost": str(amount), "price": terms_of(price)}


def settle_delivered(
    generation: Any, *, channel: str, sizes: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    """`generation.attempts` with the delivering call's cost at the delivered sizes.

    The delivering call is the last paid successful one (as the reports count it),
    of `channel`; a price per megapixel is "of the delivered size", and an upstream
    may deliver another size than asked (it rounds, clamps or ignores the request).
    """
    attempts = [dict(a) for a in generation.attempts]
    paid = [a for a in attempts if a.get("ok") and entry_cost(a) > 0]
    if not paid or paid[-1].get("channel") != channel or "price" not in paid[-1]:
        return attempts
    entry = paid[-1]
    amount = delivered_cost(
        entry["price"],
        n=generation.n,
        requested=megapixels(generation.params),
        delivered=[size_megapixels(w, h) for w, h in sizes],
    )
    entry["cost"] = str(amount)
    entry["delivered"] = [f"{w}x{h}" for w, h in sizes]
    return attempts


def entry_cost(entry: dict[str, Any]) -> Decimal:
    return Decimal(str(entry.get("cost") or "0"))


def total_cost(attempts: Iterable[dict[str, Any]]) -> Decimal:
    return sum((entry_cost(a) for a in attempts), ZERO)


def undelivered_cost(attempts: list[dict[str, Any]], *, delivered: bool) -> Decimal:
    """Paid but not delivered: every paid attempt, except the one whose images were stored."""
    total = total_cost(attempts)
    if not delivered:
        return total
    paid = [a for a in attempts if entry_cost(a) > 0 and a.get("ok")]
    return total - (entry_cost(paid[-1]) if paid else ZERO)


def is_refused(entry: dict[str, Any]) -> bool:
    """An upstream call the upstream refused: sent, answered with an error (so it cost
    nothing). Judged by its outcome, not its cost: a timeout on a channel without a
    price costs nothing too, but the upstream may have taken it."""
    return (
        entry.get("phase") == "submit"
        and not entry.get("ok")
        and entry.get("code") not in NOT_SENT | UNKNOWN_OUTCOME
    )
