"""Per-key rate limit on /v1 image requests: a fixed one-minute window in Django's cache.

A counter per key per clock minute costs one atomic increment per request and
needs no cleanup (it expires with its window). The price is that a key can
burst up to twice the limit across a minute boundary; for a guard against a
runaway client that is fine. The counter must be shared by every web process,
so production uses the Redis cache (see CACHES in config/settings.py); without
Redis each process counts on its own.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from generations.api.errors import RateLimited

log = logging.getLogger(__name__)
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
    try:
        count = _count(f"api-rate:{key_id}:{window}")
    except (RedisError, OSError) as exc:
        # A guard against runaway clients must not take the API down with its cache:
        # with Redis away, requests go through uncounted.
        log.warning("rate limit not counted, the cache is unavailable: %r", exc)
        return
    if count > limit:
        retry_after = max(1, math.ceil((window + 1) * WINDOW - now))
        raise RateLimited(
            f"Rate limit reached for this API key: {limit} image requests per minute. "
            f"Try again in {retry_after}s.",
            retry_after=retry_after,
        )


def _count(name: str) -> int:
    # add() only creates (SET NX on Redis), so concurrent first requests don't reset it.
    cache.add(name, 0, timeout=WINDOW * 2)
    try:
        return int(cache.incr(name))
    except ValueError:  # evicted between add() and incr(): this request starts it again
        cache.set(name, 1, timeout=WINDOW * 2)
        return 1
