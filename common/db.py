"""Database helpers: connections around long waits, appending to a JSON list in place."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db.models import F, Func, JSONField


def release_connection() -> None:
    """Give this thread's connection back before a long wait (an upstream call).

    With the pool (config/settings.py) this is a hand-back and the next query takes
    one again; so a worker with 1,000 calls in flight holds no 1,000 connections.
    Inside a transaction it does nothing: closing there would break the transaction.
    """
    if not connection.in_atomic_block:
        connection.close()


class JSONAppend(Func):
    """`column || [item]` for a JSON list column, in the UPDATE itself: two writers
    appending at once both keep their entry (no read-modify-write)."""

    output_field = JSONField()

    def __init__(self, column: str, item: Any) -> None:
        super().__init__(F(column))
        self.item = item

    def as_sql(
        self, compiler: Any, connection: Any, *args: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        column, params = compiler.compile(self.get_source_expressions()[0])
        if connection.vendor == "postgresql":
            sql = f"(COALESCE({column}, '[]'::jsonb) || %s::jsonb)"
            return sql, [*params, json.dumps([self.item])]
        sql = f"json_insert(COALESCE({column}, '[]'), '$[#]', json(%s))"
        return sql, [*params, json.dumps(self.item)]
