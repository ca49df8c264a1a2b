"""Signed webhook notices for finished API jobs, in the Standard Webhooks format.

That is the format OpenAI's own webhooks use, so a receiver can check our
signature with the openai SDK (`client.webhooks.verify_signature(body, headers,
secret=...)`) or any Standard Webhooks library. Each person has one signing
secret (accounts.webhooks), shown on their API keys page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts.webhooks import webhook_signing_secret
from common.net import FetchError, post_untrusted
from generations.api.responses import job_body
from generations.models import Generation, Webhook


def signed_headers(secret: str, body: str, *, msg_id: str, timestamp: int) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
        "content-type": "application/json",
    }


def notice(generation: Generation, base: str) -> dict[str, Any]:
    kind = "succeeded" if generation.status == Generation.Status.SUCCEEDED else "failed"
    return {
        "object": "event",
        "type": f"image.job.{kind}",
        "created_at": int(time.time()),
        "data": job_body(generation, "url", base),
    }


def delivery_failed(webhook: Webhook, message: str) -> None:
    Webhook.objects.filter(pk=webhook.pk).update(last_error=message[:500])


def deliver(webhook: Webhook) -> None:
    """POST the signed notice once; raises FetchError when the receiver did not take it."""
    generation = webhook.generation
    body = json.dumps(notice(generation, webhook.base_url), separators=(",", ":"))
    headers = signed_headers(
        webhook_signing_secret(generation.user),
        body,
        # One id per notice, the same on every try (Standard Webhooks): a receiver
        # that got it twice (a retry, a requeue after a broker outage) can tell.
        msg_id=f"msg_{generation.pk.hex}",
        timestamp=int(time.time()),
    )
    Webhook.objects.filter(pk=webhook.pk).update(attempts=webhook.attempts + 1)
    # The one SSRF guard: checked, pinned address; no redirects followed.
    status = post_untrusted(webhook.url, content=body.encode(), headers=headers)
    if not 200 <= status < 300:
        raise FetchError(
            f"the receiver answered HTTP {status}", code="fetch_failed", retryable=status >= 500
        )
    Webhook.objects.filter(pk=webhook.pk).update(delivered_at=timezone.now(), last_error="")


def webhooks_unsent(*, older_than: float, limit: int = 500) -> list[str]:
    """Generation ids of notices never tried though their job finished `older_than`
    seconds ago: their delivery message was lost (the broker was down when the job ended)."""
    now = timezone.now()
    return [
        str(pk)
        for pk in Webhook.objects.filter(
            delivered_at__isnull=True,
            attempts=0,
            generation__finished_at__lt=now - timedelta(seconds=older_than),
            generation__finished_at__gte=now - timedelta(days=1),
        ).values_list("generation_id", flat=True)[:limit]
    ]
