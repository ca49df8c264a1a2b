"""Which peers may say who the client is: settings.DARKROOM_TRUSTED_PROXIES, nobody else.

uvicorn's own proxy-headers middleware does the reading (X-Forwarded-For, from the
right, stopping at the first address that is not a trusted proxy; X-Forwarded-Proto),
but with our list instead of its command-line flag: every process command runs uvicorn
with --no-proxy-headers, so one setting decides for uvicorn's access log and for Django
(REMOTE_ADDR, request.scheme) alike.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class TrustedProxies:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._built: tuple[tuple[str, ...], Any] = ((), app)

    def _for(self, trusted: tuple[str, ...]) -> Any:
        if self._built[0] != trusted:  # built once; again only if the setting changes (tests)
            self._built = (trusted, ProxyHeadersMiddleware(self.app, trusted_hosts=list(trusted)))
        return self._built[1]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        trusted = tuple(settings.DARKROOM_TRUSTED_PROXIES)
        if not trusted:
            await self.app(scope, receive, send)
        else:
            await self._for(trusted)(scope, receive, send)
