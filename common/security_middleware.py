"""Django's SecurityMiddleware without its two thread trips per request.

MiddlewareMixin runs a middleware's process_request and process_response in the
request's thread-sensitive executor (two hops to a thread and back) when the chain is
async. SecurityMiddleware's hooks only read settings and the request, and set headers
or return a redirect: nothing blocks, so this runs them on the event loop. The /v1
handler uses it (generations.api.asgi); bench P2 showed the hops as a fifth of the
web's CPU with 1,000 API calls waiting.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.middleware.security import SecurityMiddleware


class InlineSecurityMiddleware(SecurityMiddleware):
    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.process_request(request)
        if response is None:
            response = await self.get_response(request)  # type: ignore[misc]  # async chain
        return self.process_response(request, response)
