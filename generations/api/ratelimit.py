"""Per-key rate limit on /v1 image requests: a fixed one-minute window in Django's cache.

A counter per key per clock minute costs one atomic increment per request and
needs no cleanup (it expires with its window). The price is that a key can
burst up to twice the limit across a minute boundary; for a guard against a
runaway client that is fine. The counter must be shared by every web process,
so production uses the Redis cache (see CACHES in config/settings.py); without
Redis each process counts on its own.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache

from .errors import RateLimited

WINDOW = 60  # seconds


def rate_limit_hit(key_id: str, *, now: float | None = None) -> None:
    """Count one request for the key; RateLimited once it is over the limit this minute.

    DARKROOM_API_RATE_LIMIT = 0 turns the limit off. Call from a thread (cache I/O).
    """
    limit = settings.DARKROOM_API_RATE_LIMIT
    if limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // WINDOW)
    name = f"api-rate:{key_id}:{window}"
    # add() only creates (SET NX on Redis), so concurrent first requests don't reset it.
    cache.add(name, 0, timeout=WINDOW * 2)
    try:
        count = cache.incr(name)
    except ValueError:  # evicted between add() and incr(): this request starts it again
        cache.set(name, 1, timeout=WINDOW * 2)
        count = 1
    if count > limit:
        retry_after = max(1, math.ceil((window + 1) * WINDOW - now))
        raise RateLimited(
            f"Rate limit reached for this API key: {limit} image requests per minute. "
            f"Try again in {retry_after}s.",
            retry_after=retry_after,
        )
