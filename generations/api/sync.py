"""Short blocking calls (the ORM, our services) from the API's async views.

They run on the event loop's default thread pool (`thread_sensitive=False`), a
small fixed pool shared by all requests, instead of a thread per request: a
waiting request then holds no thread at all between its short calls. Django
closes a request's connections only in the request's own thread, so each call
here does it itself before and after: a connection that is broken or past
CONN_MAX_AGE (0 by default: every time) is closed, never left idle in the pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def _fresh(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def run_sync(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    return await sync_to_async(_fresh, thread_sensitive=False)(fn, *args, **kwargs)
