"""Short blocking calls (the ORM, our services) from async views: the API's and the
portal's live stream.

They run on one thread pool shared by all requests (`thread_sensitive=False`,
DARKROOM_API_THREADS threads), instead of a thread per request: a waiting request
then holds no thread at all between its short calls. The calls mostly wait on
PostgreSQL, so the pool is larger than the loop's default (cores + 4); keep it
below the connection pool's size (DARKROOM_DB_POOL_SIZE). Django
closes a request's connections only in the request's own thread, so each call
here does it itself before and after: a connection that is broken or past
CONN_MAX_AGE is closed, never left idle in the pool; with the connection pool
(PostgreSQL) closing hands it back.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def _fresh(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(settings.DARKROOM_API_THREADS, thread_name_prefix="api-db")


async def run_sync(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    call = sync_to_async(_fresh, thread_sensitive=False, executor=_executor())
    return await call(fn, *args, **kwargs)
