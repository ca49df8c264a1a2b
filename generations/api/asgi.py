"""Keep /v1 requests from costing a thread each.

Django's ASGI handler gives every request its own "thread-sensitive" executor,
a thread that lives as long as the request, for its sync middleware and
request signals. A request that waits minutes for its job would keep that
thread the whole time: 200 waiting requests, 200 threads. Under /v1 we hand
every request one shared single-thread executor instead (asgiref's
ThreadSensitiveContext(executor=...)): the per-request sync work there is a few
microseconds of middleware, and our own blocking calls use the loop's small
default pool (see sync.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext

API_PREFIX = "/v1/"


class SharedThreadForApi:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-sync")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(API_PREFIX):
            async with ThreadSensitiveContext(executor=self.executor):
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)
