"""Database connections around long waits."""

from __future__ import annotations

from django.db import connection


def release_connection() -> None:
    """Give this thread's connection back before a long wait (an upstream call).

    With the pool (config/settings.py) this is a hand-back and the next query takes
    one again; so a worker with 1,000 calls in flight holds no 1,000 connections.
    Inside a transaction it does nothing: closing there would break the transaction.
    """
    if not connection.in_atomic_block:
        connection.close()
