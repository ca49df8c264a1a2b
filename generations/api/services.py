"""API writes: submit one /v1/images call as a generation, at most once per call.

A call is one job however often it is sent: with an Idempotency-Key, per key
and body (`_claim`, `_replay`); without one, the official SDK's own retries (it
sends `x-stainless-retry-count: 1, 2...` on a retry, and no idempotency header)
join the job their first attempt created, while it has not failed (`_unanswered`).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey
from common.errors import InvalidRequest
from common.net import FetchError, check_untrusted_url
from generations import publishing
from generations.api.errors import IdempotencyConflict, ModelNotAllowed
from generations.api.mapping import model_inputs
from generations.api.presets import call_with_preset
from generations.api.serializers import ImageCall
from generations.models import Generation, IdempotencyRecord, Webhook
from generations.services import PreparedRequest, generation_prepare, generation_submission
from generations.validation import get_model

# Names the IdempotencyRecord of a call sent without an Idempotency-Key, until answered.
SDK_CALL = "sdk-call:"


def api_generation_submit(
    *,
    key: ApiKey,
    call: ImageCall,
    idempotency_key: str = "",
    retry_count: int | None = None,
    base_url: str = "",
) -> Generation:
    """Validate, reserve quota and queue; the same Idempotency-Key and body give the same job.

    `retry_count` is the SDK's x-stainless-retry-count (None: not sent): a retry
    (>= 1) of a call whose job is still alive gets that job, not a new one.
    Raises DarkroomError subclasses (400/403/404/409/429) before anything is spent.
    """
    idem = idempotency_key[:255]
    sdk_call = not idem and retry_count is not None
    if sdk_call and retry_count and (earlier := _unanswered(key, call.fingerprint)):
        return _nudged(earlier)
    call = call_with_preset(key.user, call)
    # Validation and reference-image fetches happen here, before any transaction:
    # the idempotency record's transaction below must not stay open across a fetch.
    request = _prepare(key, call)
    _forget_expired(key, idem=idem, sdk_call=sdk_call)
    with transaction.atomic():
        # The idempotency record comes first: a concurrent request with the same key
        # blocks on its unique index until this transaction ends, then sees it (or,
        # if this one rolled back, takes its place). So only one of them reserves quota.
        record = _claim(key, idem, call.fingerprint) if idem else None
        if idem and record is None:
            return _replay(key, idem, call.fingerprint)
        with generation_submission(
            user=key.user,
            request=request,
            source=Generation.Source.API,
            extra={"api_key": key, "preset_id": call.preset},
        ) as generation:
            if call.webhook_url:
                Webhook.objects.create(
                    generation=generation, url=call.webhook_url, base_url=base_url
                )
            if record is not None:
                record.generation = generation
                record.save(update_fields=["generation"])
            elif sdk_call:
                _remember_sdk_call(key, call.fingerprint, generation)
    return generation


def _prepare(key: ApiKey, call: ImageCall) -> PreparedRequest:
    """The call checked against its model (looked up once) and the key, images read."""
    spec = get_model(call.model)
    if not key.allows(spec.name):
        raise ModelNotAllowed(f"This API key may not use the model '{spec.name}'.", param="model")
    params, images = model_inputs(call, spec)
    if call.webhook_url:
        _check_webhook_url(call.webhook_url)
    return generation_prepare(
        model=spec,
        prompt=call.prompt,
        params=params,
        images=images,
        user=key.user,
        source=Generation.Source.API,
    )


def api_call_answered(*, key: ApiKey, generation: Generation) -> None:
    """The client has its answer: a later identical call is a new job, not a retry."""
    IdempotencyRecord.objects.filter(
        user=key.user_id, key__startswith=SDK_CALL, generation=generation
    ).delete()


def _forget_expired(key: ApiKey, *, idem: str, sdk_call: bool) -> None:
    """Drop the records that no longer make a call the same job."""
    if idem:
        cutoff = timezone.now() - timedelta(seconds=settings.DARKROOM_API_IDEMPOTENCY_TTL)
        IdempotencyRecord.objects.filter(user=key.user, key=idem, created_at__lt=cutoff).delete()
    elif sdk_call:
        cutoff = timezone.now() - timedelta(seconds=settings.DARKROOM_API_RETRY_WINDOW)
        IdempotencyRecord.objects.filter(
            user=key.user_id, key__startswith=SDK_CALL, generation__created_at__lt=cutoff
        ).delete()


def _remember_sdk_call(key: ApiKey, fingerprint: str, generation: Generation) -> None:
    """Remember the job as this key's unanswered call with this body.

    One record per key and body: of two identical calls in flight at once, a retry
    joins the newer one's job (still charged once, never twice).
    """
    IdempotencyRecord.objects.update_or_create(
        user=key.user,
        key=_call_name(key, fingerprint),
        defaults={"body_hash": fingerprint, "generation": generation},
    )


def _unanswered(key: ApiKey, fingerprint: str) -> Generation | None:
    """The live job of this key's unanswered call with this body, if any."""
    cutoff = timezone.now() - timedelta(seconds=settings.DARKROOM_API_RETRY_WINDOW)
    record = (
        IdempotencyRecord.objects.select_related("generation")
        .filter(user=key.user_id, key=_call_name(key, fingerprint))
        .filter(generation__created_at__gte=cutoff)
        .exclude(generation__status=Generation.Status.FAILED)
        .first()
    )
    return record.generation if record is not None else None


def _call_name(key: ApiKey, fingerprint: str) -> str:
    return f"{SDK_CALL}{key.prefix}:{fingerprint}"


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


def _claim(key: ApiKey, idem: str, body_hash: str) -> IdempotencyRecord | None:
    """Insert the Idempotency-Key's record; None if an earlier request holds it."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=key.user, key=idem, body_hash=body_hash, generation=None
            )
    except IntegrityError:
        return None


def _replay(key: ApiKey, idem: str, body_hash: str) -> Generation:
    record = IdempotencyRecord.objects.select_related("generation").get(user=key.user, key=idem)
    if record.body_hash != body_hash or record.generation is None:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body.",
            param="Idempotency-Key",
        )
    return _nudged(record.generation)


def _nudged(generation: Generation) -> Generation:
    """A retried call joins its job; one that never started is published again.

    Its first message may be lost: a web process killed between the job's commit and
    its publish leaves it queued until its first lease ends and the relay (beat) finds
    it, a minute or more. The retry publishes it now. A second message for a job whose
    first one arrives too is dropped by the claim (generations.leases), and a job that
    has started, or waits out a backoff, is left to its lease.
    """
    never_started = generation.step == 0 and generation.started_at is None
    if generation.status == Generation.Status.QUEUED and never_started:
        transaction.on_commit(lambda: publishing.enqueue(generation.pk))
    return generation
