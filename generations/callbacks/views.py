"""Upstream callbacks: thin interfaces that check who is calling and call one service.

They live here, beside the generation services they call, so providers/ never
imports generations (the arrows run config -> generations -> accounts -> providers).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generations.callbacks.links import callback_secret
from generations.services import generation_poll_now


@csrf_exempt
@require_POST
def bfl_webhook(request: HttpRequest, generation_id: Any) -> JsonResponse:
    """Black Forest Labs says a task is done: poll it now rather than at the next tick.

    The per-task callback secret we gave with the task (derived from the generation
    id; BFL names the field `webhook_secret`) must come back, in the body's
    `webhook_secret` or the `X-Webhook-Secret` header. The payload itself is not
    trusted: the poll reads the result from BFL.
    """
    payload = _json(request)
    given = str(payload.get("webhook_secret") or request.headers.get("X-Webhook-Secret", ""))
    if not hmac.compare_digest(given.encode(), callback_secret(str(generation_id)).encode()):
        return JsonResponse({"error": "bad secret"}, status=403)
    queued = generation_poll_now(
        generation_id=generation_id, upstream_id=str(payload.get("id", ""))
    )
    return JsonResponse({"queued": queued})


def _json(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
