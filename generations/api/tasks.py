"""Celery tasks of the API: webhook delivery, retried with backoff on failure."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from common.net import FetchError
from generations.api.webhooks import deliver, delivery_failed, webhooks_unsent
from generations.models import Webhook
from generations.publishing import PUBLISH_ERRORS

_BACKOFF = (10, 60, 300, 1800)
# A notice not tried this long after its job ended lost its message; well past any
# queueing delay, so a notice still waiting in the broker is not sent twice.
UNSENT_AFTER = 600.0


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


@shared_task
def requeue_unsent_webhooks() -> int:
    """Beat: queue again the notices whose message was lost; how many."""
    queued = 0
    for generation_id in webhooks_unsent(older_than=UNSENT_AFTER):
        try:
            deliver_webhook.delay(generation_id)
        except PUBLISH_ERRORS:
            break  # the broker is still down: the next run tries again
        queued += 1
    return queued
