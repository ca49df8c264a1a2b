"""Keep /v1 requests cheap: no thread each, and only the middleware they need.

Django's ASGI handler gives every request its own "thread-sensitive" executor,
a thread that lives as long as the request, for its sync middleware and
request signals. A request that waits minutes for its job would keep that
thread the whole time: 200 waiting requests, 200 threads. Under /v1 we hand
every request one shared single-thread executor instead (asgiref's
ThreadSensitiveContext(executor=...)): the per-request sync work there is a few
microseconds of middleware, and our own blocking calls use the loop's small
default pool (see sync.py).

/v1 also runs through a handler of its own, with only the middleware an API call
uses (API_MIDDLEWARE): sessions, CSRF, logins, second factors, messages, htmx,
lockouts and CSP serve the portal's pages and cost an API call ~2 ms of CPU for
nothing (bench P4: see the commit). The error envelope, request ids, metrics and
security headers stay, and every other path keeps settings.MIDDLEWARE whole.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from generations.api import gate

API_PREFIX = "/v1/"
# Pages under /v1 that people read in the portal: they need its session, language and
# sign-in, so they go through the whole middleware.
PORTAL_PATHS = frozenset({"/v1/docs"})
# The portal's server-sent-events stream (generations.portal.live_views).
LIVE_PATH = "/live/"

# What a bearer-key call needs: request id, timing and metrics (first, as in
# settings.MIDDLEWARE), HTTPS and header hardening, and the audit log's client address.
API_MIDDLEWARE = [
    "config.ops.middleware.OpsMiddleware",
    "common.security_middleware.InlineSecurityMiddleware",  # SecurityMiddleware, no thread trips
    "accounts.audit_context.audit_context_middleware",
]
_loading = threading.Lock()


class ApiHandler(ASGIHandler):
    """Django's ASGI handler with API_MIDDLEWARE in place of settings.MIDDLEWARE."""

    def load_middleware(self, is_async: bool = False) -> None:
        with _loading:  # once, at start; BaseHandler reads the list from settings
            full = settings.MIDDLEWARE
            settings.MIDDLEWARE = API_MIDDLEWARE
            try:
                super().load_middleware(is_async)
            finally:
                settings.MIDDLEWARE = full


class SharedThreadForApi:
    """/v1 through ApiHandler, and the portal's live stream (LIVE_PATH, open as long as
    its page) through the full stack: both on one shared thread each, not one per request."""

    def __init__(self, app: Any) -> None:
        self.app, self.api = app, ApiHandler()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-sync")
        self.live_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-sync")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(API_PREFIX) and path not in PORTAL_PATHS:
            await self._api(scope, receive, send)
        elif path == LIVE_PATH:
            async with ThreadSensitiveContext(executor=self.live_executor):
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _api(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        refused = await gate.refusal(scope)  # before a byte of the body is read
        if refused is not None:
            await gate.send_error(scope, send, refused)
            return
        try:
            async with ThreadSensitiveContext(executor=self.executor):
                await self.api(scope, gate.limited(receive), send)
        except gate.BodyTooLarge:  # raised while Django read the body: nothing was sent yet
            await gate.send_error(scope, send, gate.too_large())
