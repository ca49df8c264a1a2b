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
    appending at once both keep their entry (no read-modify-write).

    `unless=(key, value, instead)`: append `instead` if the list already holds an element
    whose `key` is `value`, decided by the UPDATE on the row as it is then (an entry of
    the same upstream call already written by another worker, say)."""

    output_field = JSONField()

    def __init__(self, column: str, item: Any, *, unless: tuple[str, str, Any] | None = None):
        super().__init__(F(column))
        self.item = item
        self.unless = unless

    def as_sql(
        self, compiler: Any, connection: Any, *args: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        column, params = compiler.compile(self.get_source_expressions()[0])
        if connection.vendor == "postgresql":
            current = f"COALESCE({column}, '[]'::jsonb)"
            if self.unless is None:
                return f"({current} || %s::jsonb)", [*params, json.dumps([self.item])]
            key, value, instead = self.unless
            chosen = f"CASE WHEN {current} @> %s::jsonb THEN %s::jsonb ELSE %s::jsonb END"
            probe = json.dumps([{key: value}])
            return f"({current} || {chosen})", [
                *params,
                *params,
                probe,
                json.dumps([instead]),
                json.dumps([self.item]),
            ]
        current = f"COALESCE({column}, '[]')"
        if self.unless is None:
            return f"json_insert({current}, '$[#]', json(%s))", [*params, json.dumps(self.item)]
        key, value, instead = self.unless
        # The column's SQL from the compiler; every value a parameter.
        held = f"EXISTS (SELECT 1 FROM json_each({current}) WHERE json_extract(value, %s) = %s)"  # noqa: S608
        chosen = f"CASE WHEN {held} THEN json(%s) ELSE json(%s) END"
        return f"json_insert({current}, '$[#]', {chosen})", [
            *params,
            *params,
            f"$.{key}",
            value,
            json.dumps(instead),
            json.dumps(self.item),
        ]
