"""What an API caller is told of their quota: `GET /v1/quota` and the `x-darkroom-quota-*`
headers on every /v1/images/* answer, so a caller learns where it stands before a 429.

Both read the same selectors as the portal's "Your usage" page; nothing here writes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from accounts.models import ApiKey, GroupPool
from accounts.quota import QuotaStatus, quota_overview
from accounts.quota.caps import KeyCapStatus, key_cap_applies, key_cap_status
from accounts.quota.layers import next_period_start
from accounts.quota.pools import pool_left
from accounts.quota.status import usage_for_model
from generations.api.errors import UNAVAILABLE
from providers.catalog import get_catalog

log = logging.getLogger(__name__)

UNLIMITED = "unlimited"


def _stamp(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def _count(value: int | None) -> str:
    return UNLIMITED if value is None else str(value)


def quota_headers(key: ApiKey, model: str) -> dict[str, str]:
    """The person's limit and what is left for `model` (and the key's cap where it
    applies); none for a model the key may not use or the catalog lacks."""
    if get_catalog().get(model) is None or not key.allows(model):
        return {}
    usage = usage_for_model(user=key.user, model=model)
    headers = {
        "x-darkroom-quota-model": model,
        "x-darkroom-quota-limit": _count(usage.limit),
        "x-darkroom-quota-remaining": _count(usage.left),
    }
    if usage.resets_at is not None:
        headers["x-darkroom-quota-reset"] = str(_stamp(usage.resets_at))
    cap = key_cap_status(key) if key_cap_applies(key, model) else None
    if cap is not None:
        headers["x-darkroom-key-cap-limit"] = str(cap.cap)
        headers["x-darkroom-key-cap-remaining"] = str(cap.left)
        reset = next_period_start(cap.period)
        if reset is not None:
            headers["x-darkroom-key-cap-reset"] = str(_stamp(reset))
    return headers


def quota_headers_or_none(key: ApiKey | None, model: str) -> dict[str, str]:
    """The headers, or none when they cannot be read: they must never cost the answer."""
    if key is None or not model:
        return {}
    try:
        return quota_headers(key, model)
    except UNAVAILABLE as exc:
        log.warning("quota headers left out: %r", exc)
        return {}


def _source(usage: QuotaStatus) -> dict[str, Any]:
    kind, _, group = usage.layered.source.partition(" ")
    return {"source": kind, "group": group or None}


def _model_row(usage: QuotaStatus) -> dict[str, Any]:
    return {
        "object": "quota",
        "model": usage.model,
        "label": usage.label,
        "limit": usage.limit,
        "used": usage.used,
        "in_progress": usage.reserved,
        "left": usage.left,
        "period": usage.layered.period,
        "resets_at": _stamp(usage.resets_at),
        **_source(usage),
    }


def _cap_body(cap: KeyCapStatus | None) -> dict[str, Any] | None:
    if cap is None:
        return None
    return {
        "limit": cap.cap,
        "used": cap.used,
        "in_progress": cap.reserved,
        "left": cap.left,
        "model": cap.model or None,
        "period": cap.period,
        "resets_at": _stamp(next_period_start(cap.period)),
    }


def _pools(key: ApiKey) -> list[dict[str, Any]]:
    pools = GroupPool.objects.filter(group__user=key.user).select_related("group")
    return [
        {
            "group": pool.group.name,
            "model": pool.model,
            "size": pool.size,
            "left": pool_left(pool),
            "period": pool.period,
            "mode": pool.mode,
        }
        for pool in pools.order_by("group__name", "model")
        if key.allows(pool.model)
    ]


def quota_body(key: ApiKey) -> dict[str, Any]:
    """Every catalog model the key may use, for the key's owner; call from a thread."""
    rows = [u for u in quota_overview(key.user) if key.allows(u.model)]
    return {
        "object": "list",
        "data": [_model_row(u) for u in rows],
        "key_cap": _cap_body(key_cap_status(key)),
        "pools": _pools(key),
    }
