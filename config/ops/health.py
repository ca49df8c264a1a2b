"""Readiness: does each dependency answer? Every check is short and bounded."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection

PROBE_TIMEOUT = 3


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


def readiness() -> dict[str, str]:
    """Each dependency's state: "ok" or why it failed (its exception, one line)."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            results[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        else:
            results[name] = "ok"
    return results
