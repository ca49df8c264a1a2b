"""The live stream's route: thin, the work is in live.py."""

from __future__ import annotations

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import translation
from django.views.decorators.http import require_GET

from generations.portal.live import Stream, events, parse_cursor


@require_GET
async def live_stream(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Server-sent events: this person's job changes, for as long as the page is open.

    The browser's EventSource sends back the last event id when it reconnects; a page
    opening its first stream sends the time it was rendered as `since`.
    """
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=403)
    if not isinstance(request, ASGIRequest):
        # WSGI would hold a thread for ever and buffer every event: no stream (204 tells
        # EventSource not to retry), and the page keeps polling.
        return HttpResponse(status=204)
    since = request.headers.get("Last-Event-ID") or request.GET.get("since")
    stream = Stream(
        user_id=int(user.pk),
        language=translation.get_language() or "en",
        cursor=parse_cursor(since),
    )
    response = StreamingHttpResponse(events(stream), content_type="text/event-stream")
    # Neither a proxy (nginx: X-Accel-Buffering) nor a cache may hold the events back.
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
