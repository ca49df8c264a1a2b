"""Pooled PostgreSQL connections are checked before they are handed out, unless checked
in the last second (common/db_pool.py): a dead one is never handed out after a pause."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import connection

from common import db_pool


class FakeConnection:
    autocommit = True

    def __init__(self, *, alive: bool = True) -> None:
        self.alive = alive
        self.pings = 0

    def execute(self, query: str) -> None:
        self.pings += 1
        if not self.alive:
            raise psycopg.OperationalError("server closed the connection")


def test_a_connection_checked_just_now_is_not_checked_again(monkeypatch: Any) -> None:
    now = [100.0]
    monkeypatch.setattr(db_pool.time, "monotonic", lambda: now[0])
    conn = FakeConnection()
    db_pool.check_unless_recent(conn)
    db_pool.check_unless_recent(conn)
    assert conn.pings == 1
    now[0] += db_pool.RECENT_SECONDS
    db_pool.check_unless_recent(conn)
    assert conn.pings == 2


def test_a_dead_connection_fails_its_check_after_a_pause(monkeypatch: Any) -> None:
    now = [100.0]
    monkeypatch.setattr(db_pool.time, "monotonic", lambda: now[0])
    conn = FakeConnection()
    db_pool.check_unless_recent(conn)
    conn.alive = False  # the server restarted while the connection sat in the pool
    now[0] += 5
    with pytest.raises(psycopg.OperationalError):  # the pool discards it, takes another
        db_pool.check_unless_recent(conn)


@pytest.mark.django_db
def test_the_pool_uses_this_check() -> None:
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("PostgreSQL with the pool only")
    connection.ensure_connection()
    assert connection.pool._check is db_pool.check_unless_recent  # type: ignore[attr-defined]
