"""Django's PostgreSQL backend, its connection pool checking connections as
common/db_pool.py says (not every checkout). ENGINE "common.postgresql"."""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

from common.db_pool import check_unless_recent


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        pool = super().pool  # type: ignore[misc]
        # Django hands psycopg_pool its own check when CONN_HEALTH_CHECKS is on and
        # accepts no other; the pool calls whatever `_check` holds on each checkout.
        if pool is not None and pool._check is ConnectionPool.check_connection:
            pool._check = check_unless_recent
        return pool
