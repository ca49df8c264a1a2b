"""Worker side of the API: announce finished generations, queue webhook deliveries."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.dispatch import receiver
from redis.exceptions import RedisError

from generations.api.tasks import deliver_webhook  # imported here so the worker registers it
from generations.broker import redis_url
from generations.models import Generation, Webhook
from generations.publishing import PUBLISH_ERRORS
from generations.signals import generation_finished

log = logging.getLogger(__name__)


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def _webhook_unsent(generation: Generation) -> bool:
    # A webhook is created with its job, so a claim that found none (has_webhook False,
    # generations.leases) means none: no query. Unknown (None) asks the database.
    if vars(generation).get("has_webhook") is False:
        return False
    return Webhook.objects.filter(generation_id=generation.pk, delivered_at__isnull=True).exists()


@receiver(generation_finished, dispatch_uid="api-publish-finished")
def publish_finished(sender: Any, generation: Generation, **kwargs: Any) -> None:
    url = redis_url()
    if url is not None:
        try:
            _client(url).publish(settings.DARKROOM_API_FINISHED_CHANNEL, str(generation.pk))
        except RedisError as exc:  # waiters fall back to re-reading the job
            log.warning("could not publish finished generation %s: %s", generation.pk, exc)
    if generation.source == Generation.Source.API and _webhook_unsent(generation):
        try:
            deliver_webhook.delay(str(generation.pk))
        except PUBLISH_ERRORS as exc:
            # The job is finished and committed: a broker outage must not fail the step
            # that finished it. The notice stays undelivered (delivered_at is null).
            log.warning("could not queue the webhook of %s: %r", generation.pk, exc)
