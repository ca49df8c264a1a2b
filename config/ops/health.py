"""Readiness: does each dependency answer? Every check is short and bounded."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection

PROBE_TIMEOUT = 3
log = logging.getLogger(__name__)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=PROBE_TIMEOUT)


def check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not return what was just stored")
    cache.delete(key)


def check_storage() -> None:
    # A lookup of a name that never exists: a HEAD on S3, a stat on local disk.
    # It proves credentials, bucket and network without writing anything.
    default_storage.exists(f"readyz/{uuid.uuid4().hex}")


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
    "storage": check_storage,
}


# Answers are reused this long: a probe storm costs one round of checks, not a broker
# connection and an S3 request per call.
CACHE_SECONDS = 5.0
_lock = threading.Lock()
_last: tuple[float, list[str]] | None = None


def _run_checks() -> list[str]:
    failed = []
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            # The why (addresses, user names) is for the operator's log, not the caller.
            log.warning("readiness: %s failed: %s: %s", name, type(exc).__name__, exc)
            failed.append(name)
    return failed


def failed_parts() -> list[str]:
    """The dependencies that did not answer, from a round at most CACHE_SECONDS old."""
    global _last
    with _lock:  # concurrent probes wait for one round instead of each running their own
        now = time.monotonic()
        if _last is None or now - _last[0] >= CACHE_SECONDS:
            _last = (now, _run_checks())
        return list(_last[1])


def forget() -> None:
    """Drop the cached round (tests, and nothing else, need a fresh one at once)."""
    global _last
    with _lock:
        _last = None
