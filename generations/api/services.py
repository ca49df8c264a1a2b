"""API writes: submit one /v1/images call as a generation, at most once per Idempotency-Key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey
from common.errors import InvalidRequest
from common.net import FetchError, check_untrusted_url
from generations.models import Generation, IdempotencyRecord, Webhook
from generations.services import generation_prepare, generation_submit
from generations.validation import get_model

from .errors import IdempotencyConflict, ModelNotAllowed
from .mapping import model_inputs
from .serializers import ImageCall


def api_generation_submit(
    *, key: ApiKey, call: ImageCall, idempotency_key: str = "", base_url: str = ""
) -> Generation:
    """Validate, reserve quota and queue; the same Idempotency-Key and body give the same job.

    Raises DarkroomError subclasses (400/403/404/409/429) before anything is spent.
    """
    spec = get_model(call.model)
    if not key.allows(spec.name):
        raise ModelNotAllowed(f"This API key may not use the model '{spec.name}'.", param="model")
    params, images = model_inputs(call, spec)
    if call.webhook_url:
        _check_webhook_url(call.webhook_url)
    # Validation and reference-image fetches happen here, before any transaction:
    # the idempotency record's transaction below must not stay open across a fetch.
    request = generation_prepare(model=spec.name, prompt=call.prompt, params=params, images=images)

    def create() -> Generation:
        generation = generation_submit(
            user=key.user, request=request, source=Generation.Source.API, extra={"api_key": key}
        )
        if call.webhook_url:
            Webhook.objects.create(generation=generation, url=call.webhook_url, base_url=base_url)
        return generation

    if not idempotency_key:
        with transaction.atomic():
            return create()
    return _once(key, idempotency_key[:255], call.fingerprint, create)


def _check_webhook_url(url: str) -> None:
    """The guard that delivery goes through, asked at submission: refused now, not dropped later."""
    try:
        check_untrusted_url(url)
    except FetchError as exc:
        raise InvalidRequest(
            f"Cannot send notices to 'webhook_url': {exc.message}.",
            param="webhook_url",
            code=exc.code,
        ) from exc


def _once(key: ApiKey, idem: str, body_hash: str, create: Any) -> Generation:
    """Create under the key, or return what an earlier request with it created.

    The record is inserted before anything else in the transaction that creates
    the job: a concurrent request with the same key blocks on the unique index
    until that transaction ends, then sees its record (or, if it failed and
    rolled back, takes its place). So only one of them ever reserves quota.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.DARKROOM_API_IDEMPOTENCY_TTL)
    IdempotencyRecord.objects.filter(user=key.user, key=idem, created_at__lt=cutoff).delete()
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=key.user, key=idem, body_hash=body_hash, generation=None
                )
        except IntegrityError:
            return _replay(key, idem, body_hash)
        generation = create()
        record.generation = generation
        record.save(update_fields=["generation"])
    return generation


def _replay(key: ApiKey, idem: str, body_hash: str) -> Generation:
    record = IdempotencyRecord.objects.select_related("generation").get(user=key.user, key=idem)
    if record.body_hash != body_hash or record.generation is None:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body.",
            param="Idempotency-Key",
        )
    return record.generation
