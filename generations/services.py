"""Generation writes: create (validate -> reserve -> enqueue) and finish (store, settle quota).

Running a job step by step lives in generations.dispatch.

Quota is reserved before anything is queued, committed for the images actually
stored, released for the rest; `quota_state` makes that happen exactly once per
generation, however often a task runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.quota import Hold, quota_hold, quota_release
from common.db import release_connection
from generations import publishing
from generations.leases import initial_lease
from generations.models import Generation, ReferenceImage
from generations.references import LoadedImage, load_images
from generations.results import add_thumbnails, discard_images, make_thumbnails, store_images
from generations.signals import generation_changed, generation_finished
from generations.spend.budgets import budget_reserve, budget_settle
from generations.spend.costs import settle_delivered, total_cost, undelivered_cost
from generations.spend.moderation import moderation_check
from generations.storage_use import storage_check
from generations.validation import CleanRequest, validate_request

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedRequest:
    """A request checked against its model's rules, with its reference images read."""

    clean: CleanRequest
    images: dict[str, list[LoadedImage]]


def generation_prepare(
    *,
    model: Any,
    prompt: Any,
    params: dict[str, Any],
    images: dict[str, list[Any]] | None = None,
    user: User | None = None,
    source: str = Generation.Source.PORTAL,
) -> PreparedRequest:
    """Validate, moderate the prompt (the person's policies) and read reference images
    (may fetch URLs): do it outside any transaction. Raises ModerationBlocked."""
    clean = validate_request(model=model, prompt=prompt, params=params, images=images)
    if user is not None:
        moderation_check(user=user, model=clean.spec.name, prompt=clean.prompt, source=source)
    return PreparedRequest(clean=clean, images=load_images(clean.images))


@contextmanager
def generation_submission(
    *,
    user: User,
    request: PreparedRequest,
    source: str = Generation.Source.PORTAL,
    extra: dict[str, Any] | None = None,
    channel: str | None = None,
) -> Iterator[Generation]:
    """Record the job, let the caller write what else belongs to it, reserve its quota.

    `with generation_submission(...) as generation:` writes, in one transaction, the
    job and its reference files; the body of the `with` adds the caller's own rows
    (a webhook, an idempotency record); quota is reserved on the way out, and the job
    is queued when the transaction commits. `extra` sets further Generation fields
    (e.g. the API key used); `channel` forces one upstream channel (operators checking
    a channel). The quota is reserved last: the reservation locks the person's quota
    row until the commit, and every other request of that person waits for it.
    """
    incoming = sum(item.info.bytes for items in request.images.values() for item in items)
    storage_check(user=user, incoming=incoming)  # before any quota is reserved
    written: list[ReferenceImage] = []
    try:
        with transaction.atomic():
            generation = _create_row(user, request.clean, source, dict(extra or {}))
            _save_references(generation, request.images, written)
            yield generation
            _hold_quota(generation, request.clean)
            transaction.on_commit(lambda: publishing.enqueue(generation.pk, channel=channel))
            transaction.on_commit(lambda: announce(generation))
    except BaseException:
        for reference in written:  # nothing committed: keep no files for it
            reference.file.delete(save=False)
        raise


def _hold_quota(generation: Generation, clean: CleanRequest) -> None:
    """Reserve the job's money budgets, then the person's quota (and the key's cap),
    refusing it whole (a spent hard budget refuses before any quota is touched), and
    record on the job where it is held: it settles there and nowhere else."""
    budget_reserve(generation=generation)
    hold = quota_hold(
        user=generation.user, model=clean.spec.name, n=clean.n, key=generation.api_key
    )
    if hold == Hold():
        return
    held = {
        "quota_budget": hold.budget,
        "quota_pool": hold.pool,
        "key_quota_reserved": hold.key_reserved,
    }
    for name, value in held.items():
        setattr(generation, name, value)
    Generation.objects.filter(pk=generation.pk).update(**held)


def generation_create(
    *,
    user: User,
    model: Any,
    prompt: Any,
    params: dict[str, Any],
    images: dict[str, list[Any]] | None = None,
    source: str = Generation.Source.PORTAL,
    extra: dict[str, Any] | None = None,
    channel: str | None = None,
) -> Generation:
    """Validate, read the reference images, reserve quota, and queue the job.

    Raises InvalidRequest / ModelNotFound / QuotaExceeded before anything is spent.
    """
    request = generation_prepare(
        model=model, prompt=prompt, params=params, images=images, user=user, source=source
    )
    with generation_submission(
        user=user, request=request, source=source, extra=extra, channel=channel
    ) as generation:
        pass
    return generation


def _create_row(user: User, clean: CleanRequest, source: str, extra: dict[str, Any]) -> Generation:
    return Generation.objects.create(
        user=user,
        model=clean.spec.name,
        prompt=clean.prompt,
        params=clean.params,
        n=clean.n,
        source=source,
        quota_reserved=clean.n,
        lease_expires_at=initial_lease(),
        **extra,
    )


def _save_references(
    generation: Generation, loaded: dict[str, list[LoadedImage]], written: list[ReferenceImage]
) -> None:
    """Store the files and rows; `written` lists each file as soon as it is in storage."""
    for param, items in loaded.items():
        for position, item in enumerate(items):
            reference = ReferenceImage(
                generation=generation,
                param=param,
                position=position,
                source_url=item.source_url,
                width=item.info.width,
                height=item.info.height,
                format=item.info.format,
                bytes=item.info.bytes,
                sha256=item.info.sha256,
            )
            reference.file.save(f"ref.{item.info.ext}", ContentFile(item.data), save=False)
            written.append(reference)
            reference.save()


def generation_succeed(
    *, generation: Generation, images: list[bytes], channel: str, upstream_id: str = ""
) -> bool:
    """Store the images and commit their quota; False (and nothing kept) if already finished.

    Once the transaction commits, the files are the person's and charged for: what
    runs after the commit (the receivers of generation_finished, the thumbnails)
    never deletes them, whatever it raises.
    """
    stored = store_images(generation, images)
    committed: list[bool] = []
    try:
        if generation.source == Generation.Source.PORTAL:
            # Nobody waits on a portal job's answer; a person watches its card, shown
            # "done" only with its thumbnails: made now, they are there when it is finished.
            make_thumbnails(stored)
        with transaction.atomic():
            # Registered first, so it runs first among the commit's callbacks.
            transaction.on_commit(lambda: committed.append(True))
            locked = Generation.objects.select_for_update().get(pk=generation.pk)
            if locked.is_finished:
                discard_images(stored)
                return False
            # What the claim read (generations.leases), for the receivers after the commit.
            locked.has_webhook = vars(generation).get("has_webhook")  # type: ignore[attr-defined]
            for image in stored:
                image.save()
            # Paid at the size the upstream delivered, at the price of its call.
            locked.attempts = settle_delivered(
                locked, channel=channel, sizes=[(i.width, i.height) for i in stored]
            )
            _finish(
                locked,
                Generation.Status.SUCCEEDED,
                used=len(stored),
                channel=channel,
                upstream_id=upstream_id or locked.upstream_id,
            )
    except BaseException:
        if not committed:
            discard_images(stored)  # nothing committed: keep no files for it
            raise
        log.exception("generation %s: after its result was committed", generation.pk)
    release_connection()  # a thumbnail is CPU work: hold no pooled connection through it
    add_thumbnails(stored)  # after the commit: the answer does not wait for them
    announce(generation)  # only now: a card shown "done" must have its thumbnail
    return True


def generation_fail(*, generation_id: Any, code: str, message: str) -> bool:
    """Fail a generation and release its whole reservation; False if already finished."""
    with transaction.atomic():
        locked = Generation.objects.select_for_update().get(pk=generation_id)
        if locked.is_finished:
            return False
        locked.error_code, locked.error_message = code, message[:2000]
        _finish(locked, Generation.Status.FAILED, used=0)
    log.info("generation %s failed: %s %s", generation_id, code, message)
    return True


_OUTCOME_FIELDS = (
    "status",
    "finished_at",
    "error_code",
    "error_message",
    "attempts",
    "cost",
    "cost_undelivered",
    "quota_state",
    "quota_used",
    "upstream_state",
    "upstream_sent_at",
    "lease_owner",
    "lease_expires_at",
)


def _finish(generation: Generation, status: str, *, used: int, **fields: Any) -> None:
    """Inside a transaction holding the row lock: set the outcome and settle quota once.

    The quota rows are written last: their locks are held until the commit, and every
    other request of the same person waits for them.
    """
    settle = generation.quota_state == Generation.QuotaState.RESERVED
    generation.cost = total_cost(generation.attempts)
    generation.cost_undelivered = undelivered_cost(
        generation.attempts, delivered=status == Generation.Status.SUCCEEDED
    )
    if settle:
        generation.quota_state = (
            Generation.QuotaState.COMMITTED if used else Generation.QuotaState.RELEASED
        )
        generation.quota_used = used
    for key, value in fields.items():
        setattr(generation, key, value)
    generation.status = status
    generation.finished_at = timezone.now()
    generation.upstream_state = None
    generation.upstream_sent_at = None
    generation.lease_owner, generation.lease_expires_at = "", None
    # The columns an outcome sets (and those the callers set on the locked row: attempts,
    # the error), not all ~40: a shorter UPDATE to build and send.
    generation.save(update_fields=[*_OUTCOME_FIELDS, *fields])
    if settle:  # money budgets first: the order submissions lock them in
        budget_settle(generation=generation)
        quota_release(
            user=generation.user_id,
            model=generation.model,
            held=generation.quota_budget,
            pool_id=generation.quota_pool_id,
            reserved=generation.quota_reserved,
            used=used,
            key_id=generation.api_key_id,
            key_reserved=generation.key_quota_reserved,
        )
    transaction.on_commit(lambda: _announce_finished(generation, images=used))
    if status == Generation.Status.FAILED:
        transaction.on_commit(lambda: announce(generation))


def _announce_finished(generation: Generation, *, images: int) -> None:
    """Tell the receivers (metrics, waiters, webhooks); one failing is logged, never raised:
    the outcome is committed. An unqueued webhook is queued again by
    generations.api.tasks.requeue_unsent_webhooks."""
    sent = generation_finished.send_robust(Generation, generation=generation, images=images)
    for receiver, result in sent:
        if isinstance(result, Exception):
            log.error(
                "generation %s: %r failed after the outcome was committed",
                generation.pk,
                receiver,
                exc_info=result,
            )


def announce(generation: Generation) -> None:
    """Tell the person's open pages their job changed (generations.portal.live)."""
    try:
        generation_changed.send(
            Generation, generation_id=str(generation.pk), user_id=generation.user_id
        )
    except Exception:  # pages re-read on their own: a lost notice only delays a card
        log.warning("could not announce a change of %s", generation.pk, exc_info=True)


def sweep_stuck(*, older_than_seconds: int) -> int:
    """Fail and refund every job still unfinished past its deadline (e.g. its worker died)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = Generation.objects.filter(
        status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING], created_at__lt=cutoff
    ).values_list("pk", flat=True)
    return sum(
        generation_fail(
            generation_id=pk,
            code="timeout",
            message="The job did not finish in time; its images were refunded.",
        )
        for pk in list(stuck)
    )


def generation_poll_now(*, generation_id: Any, upstream_id: str) -> bool:
    """An upstream says a job is done: run its next poll now. False if nothing to poll.

    The scheduled poll still comes later and finds the job finished; the task
    is safe to run twice.
    """
    step = (
        Generation.objects.filter(
            pk=generation_id,
            status=Generation.Status.RUNNING,
            upstream_state__isnull=False,
            upstream_id=upstream_id,
        )
        .values_list("step", flat=True)
        .first()
    )
    if step is None:
        return False
    publishing.publish(generation_id, step=step)
    return True
