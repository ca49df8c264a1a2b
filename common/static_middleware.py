"""WhiteNoise, able to stay on the async path.

WhiteNoiseMiddleware is sync-only, and one sync-only middleware makes Django
run the rest of the chain, the view included, inside a thread: an async view
that waits minutes (the /v1 API waiting for its job) would hold a thread the
whole time. This subclass serves static files exactly as WhiteNoise does (the
file lookup is a dict or a stat; serving goes to a thread) and otherwise
passes an async request on untouched.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncCapableWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(get_response, *args, **kwargs)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: Any) -> Any:
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self._serve_whole)(static_file, request)
        return await self.get_response(request)

    def _serve_whole(self, static_file: Any, request: Any) -> HttpResponse:
        """WhiteNoise's answer read whole in the thread: its file response streams a sync
        iterator, which Django under ASGI consumes with a warning on every file. The
        portal's static files are a few tens of KB each."""
        served = self.serve(static_file, request)
        if not served.streaming:
            return served
        try:
            body = b"".join(served.streaming_content)
        finally:
            served.close()
        whole = HttpResponse(body, status=served.status_code)
        for name, value in served.items():
            whole[name] = value
        return whole
