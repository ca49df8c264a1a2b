"""Celery tasks of the API: webhook delivery, retried with backoff on failure."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from common.net import FetchError
from generations.models import Webhook

from .webhooks import deliver, delivery_failed

_BACKOFF = (10, 60, 300, 1800)


@shared_task(bind=True, acks_late=True, max_retries=len(_BACKOFF))
def deliver_webhook(self: Any, generation_id: str) -> None:
    webhook = (
        Webhook.objects.select_related("generation__user")
        .filter(generation_id=generation_id, delivered_at__isnull=True)
        .first()
    )
    if webhook is None:
        return
    try:
        deliver(webhook)
    except FetchError as exc:
        delivery_failed(webhook, exc.message)
        if exc.retryable and self.request.retries < len(_BACKOFF):
            raise self.retry(countdown=_BACKOFF[self.request.retries]) from exc
