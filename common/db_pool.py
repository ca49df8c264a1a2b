"""The health check of pooled PostgreSQL connections (config/settings.py).

psycopg_pool's check (what `CONN_HEALTH_CHECKS` turns on) sends an empty query on every
checkout, so a connection the server closed while it sat in the pool is replaced instead
of failing the query that takes it. A worker step takes a connection four or five times
(it gives it back before every upstream call and download, common/db.py), each check a
round trip: ~1 ms of CPU per image (py-spy, bench P6). A connection handed out less than
`RECENT_SECONDS` ago was working then and has only been used since (one that broke
during use is closed by the pool when it comes back), so it is handed out unchecked;
any other is checked as before. A server restart inside that second fails at most the
query that takes the connection, which the task retries (generations.retry).

Used by the database backend common.postgresql.
"""

from __future__ import annotations

import time
from typing import Any

from psycopg_pool import ConnectionPool

RECENT_SECONDS = 1.0


def check_unless_recent(conn: Any) -> None:
    now = time.monotonic()
    if now - getattr(conn, "_darkroom_checked_at", -RECENT_SECONDS) < RECENT_SECONDS:
        return
    ConnectionPool.check_connection(conn)
    conn._darkroom_checked_at = now
