"""Running a generation: one task step at a time, upstream -> storage.

`generation_run` claims the row, submits to the model's channels in order
(failing over on retryable errors) or polls an asynchronous upstream, and
either finishes the generation (generations.services) or says when to run
again. It is safe to call twice for the same id.

Fencing: the step runs under the lease token its claim took (`lease_token`). Before
each upstream call the token is checked and the call marked sent in one locked
transaction, which also counts every call recorded (the attempt cap); after an
answer, nothing is scheduled or sent again unless the token is still ours. A paid
answer that comes after the lease moved on is still stored if the job is unfinished:
the worker that took the step over does not send again while that call may still be
in flight. Attempts are appended in the UPDATE itself, never read-modify-written.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.utils import timezone

from common.db import JSONAppend, release_connection
from common.ops import context
from generations import leases, retry
from generations.callbacks.links import bfl_callback
from generations.models import Generation
from generations.references import read_references
from generations.results import download_results
from generations.services import announce, generation_fail, generation_succeed
from generations.spend.costs import attempt_cost, entry_cost
from generations.spool import Spooled, spool_drop, spool_read, spool_write
from providers.base import (
    ChannelConfig,
    Completed,
    InputImage,
    Pending,
    Provider,
    ProviderError,
    ProviderRequest,
)
from providers.channels import channel_named, channels_for
from providers.registry import provider_for
from providers.services import channel_failed, channel_succeeded


@dataclass(frozen=True)
class StepResult:
    """What the task does next: nothing (finished) or run again after `delay` seconds.

    `step` is the step number the next message must carry (generations.leases).
    """

    delay: float | None = None
    step: int | None = None


def generation_run(
    *, generation_id: Any, channel_name: str | None = None, step: int | None = None
) -> StepResult:
    """Advance a generation by one step; safe to call twice for the same id.

    Runs only with the job's lease for `step` (None: the row's current step); a
    message for a step already done, or a job another worker holds, does nothing.
    """
    # References read once (with the claim): the upstream request and the signature
    # both list them.
    generation = leases.claim_and_read(generation_id, step)
    if generation is None:
        return StepResult()
    try:
        context.bind(user_id=generation.user_id, model=generation.model, channel=generation.channel)
        if generation.step == 0 and not generation.attempts:
            announce(generation)  # its first step: the card turns "running"
        return _end_step(generation, _advance(generation, channel_name))
    except LeaseLost:
        return StepResult()
    finally:
        # On an error the lease stays ours in the database until it expires: a retry
        # of this message takes it back at once, the relay gives it away after that.
        leases.forget(generation_id)


def generation_interrupted(*, generation_id: Any) -> StepResult:
    """The task ran past its time limit mid-call: count it as a retryable timeout."""
    generation = Generation.objects.get(pk=generation_id)
    if generation.is_finished:
        return StepResult()
    timeout = ProviderError(
        "the upstream call ran past the task's time limit", code="upstream_timeout", retryable=True
    )
    try:
        return _end_step(generation, _after_failure(generation, timeout))
    except LeaseLost:
        return StepResult()
    finally:
        leases.forget(generation_id)


def _advance(generation: Generation, channel_name: str | None) -> StepResult:
    try:
        if generation.upstream_state:
            return _poll(generation)
        if generation.upstream_sent_at:
            return _resume(generation, channel_name)
        return _submit(generation, channel_name)
    except ProviderError as exc:
        return _after_failure(generation, exc)


def _end_step(generation: Generation, result: StepResult) -> StepResult:
    if result.delay is None:
        return result
    step = leases.release(generation.pk, delay=result.delay, token=generation.lease_token)
    return StepResult(delay=result.delay, step=step) if step is not None else StepResult()


def _resume(generation: Generation, channel_name: str | None) -> StepResult:
    """An earlier lease sent a call upstream and its answer is not stored."""
    spooled = spool_read(generation.pk)
    if spooled is not None:  # paid for and kept on this host: store it, pay nothing more
        _store_paid(generation, spooled)
        return StepResult()
    wait = _in_flight_for(generation)
    if wait > 0:
        # Its worker may be late rather than dead (a heartbeat that missed renewals):
        # its answer, paid for, may still come. Look again once it cannot.
        return StepResult(delay=min(wait, retry.max_countdown()))
    _resume_interrupted(generation)
    return _submit(generation, channel_name)


def _in_flight_for(generation: Generation) -> float:
    """Seconds the call marked sent may still be in flight: its timeout, then a lease
    for its worker to store the answer once the database answers again."""
    assert generation.upstream_sent_at is not None
    window = float(settings.DARKROOM_UPSTREAM_TIMEOUT) + leases.lease_seconds()
    return generation.upstream_sent_at.timestamp() + window - time.time()


def _resume_interrupted(generation: Generation) -> None:
    """A worker sent a submit upstream and stopped before storing what came back.

    The upstream may have done (and billed) the work, but its answer is gone: send
    it again, say so in the job's attempts, and count it as a retry, so a job is
    never paid for twice silently and never more often than the retry cap allows.
    """
    may_retry = retry.may_retry(generation.retries)
    message = "The worker stopped after sending this request upstream and before storing " + (
        "the answer; it was sent again." if may_retry else "the answer."
    )
    note = attempt_entry(
        "resume", channel=generation.channel, code="interrupted_after_send", message=message
    )
    # The call went out and its outcome is unknown: the upstream may have billed it.
    note.update(attempt_cost(generation, generation.channel, None, phase="resume"))
    note["sent_at"] = _sent_at(generation)
    if not _append_attempt(
        generation, note, fenced=True, upstream_sent_at=None, retries=F("retries") + 1
    ):
        raise LeaseLost(str(generation.pk))
    generation.retries += 1
    generation.upstream_sent_at = None
    if not may_retry:
        raise ProviderError(
            "the worker stopped after the upstream call was sent; not sending it again",
            code="interrupted",
            retryable=False,
        )


def _submit(generation: Generation, channel_name: str | None) -> StepResult:
    channels = channels_for(generation.model, only=channel_name)
    if not channels:
        raise ProviderError(
            "no upstream channel can serve this model right now",
            code="no_channel",
            retryable=False,
        )
    request = _provider_request(generation)
    last_error: ProviderError | None = None
    called: list[ProviderError] = []  # this step's failed upstream calls
    for channel in channels:
        provider = provider_for(channel)
        reason = provider.unsupported(request)
        if reason:
            skipped = ProviderError(reason, code="channel_cannot_serve", retryable=False)
            _record_attempt(generation, channel, skipped)
            last_error = last_error if last_error and last_error.retryable else skipped
            continue
        _mark_sent(generation, channel, last_error)
        try:
            release_connection()  # none held while the upstream takes its time
            outcome = provider.submit(request)
        except ProviderError as exc:
            _record_attempt(generation, channel, exc)
            _check_lease(generation)  # moved on: its new holder decides what comes next
            if not _fails_over(exc):
                raise
            called.append(exc)
            channel_failed(name=channel.name, error=exc, person=generation.user_id)
            # Fail over to the next channel; remember a retryable error over a final
            # one, so the job is tried again later if every channel failed.
            if exc.retryable or last_error is None or not last_error.retryable:
                last_error = exc
            continue
        _record_attempt(generation, channel, None)
        result = _handle_outcome(
            generation, channel, outcome, deadline=_deadline(generation, provider)
        )
        # Bookkeeping after the answer is stored: a database hiccup here must not
        # lose an answer the upstream was paid for. A channel healthy when this step
        # read it has nothing to reset: a failure recorded since by another worker was
        # concurrent with this call, and counting it after this success is one valid
        # order of the two.
        if not channel.healthy:
            channel_succeeded(name=channel.name)
        return result
    assert last_error is not None
    raise _rate_limited(called) or last_error


def _rate_limited(called: list[ProviderError]) -> ProviderError | None:
    """Every channel said "slow down": tell the client now (429 + Retry-After), refunded,
    rather than retry for minutes and answer 502 at the end."""
    if not called or any(e.code != "upstream_rate_limited" for e in called):
        return None
    waits = [e.retry_after for e in called if e.retry_after]
    return ProviderError(
        "every upstream channel for this model is rate limiting; try again later",
        code="upstream_rate_limited",
        retryable=False,
        retry_after=max(waits) if waits else None,
    )


def _gave_up(generation: Generation, last_error: ProviderError | None) -> ProviderError:
    """The job used its upstream calls (each may cost money): fail it, and say so."""
    calls = retry.upstream_calls(generation.attempts)
    last = f"; last: {last_error.message}" if last_error else ""
    exc = ProviderError(
        f"gave up after {calls} upstream calls (DARKROOM_MAX_UPSTREAM_ATTEMPTS){last}",
        code=last_error.code if last_error else "upstream_unavailable",
        retryable=False,
    )
    note = attempt_entry("gave_up", code="max_upstream_attempts", message=exc.message)
    _append_attempt(generation, note, fenced=False)
    return exc


class LeaseLost(Exception):
    """Another worker took this job over (our lease ran out): stop, pay nothing more."""


def _mark_sent(
    generation: Generation, channel: ChannelConfig, last_error: ProviderError | None
) -> None:
    """Re-check the fencing token and the cap, then mark the call sent, durably before
    it goes out (if this worker dies mid-call, the next one knows); all under the row
    lock, so the cap counts every call any worker recorded."""
    now = timezone.now()
    if connection.vendor == "postgresql" and _mark_sent_returning(generation, channel, now):
        generation.upstream_sent_at, generation.channel = now, channel.name
        return
    # Not marked (the lease moved on or the cap is reached; rare), or not PostgreSQL:
    # find out which under the row lock.
    with transaction.atomic():
        row = (
            Generation.objects.select_for_update()
            .filter(pk=generation.pk, lease_token=generation.lease_token)
            .filter(status__in=leases.UNFINISHED)
            .values("attempts")
            .first()
        )
        if row is None:
            raise LeaseLost(str(generation.pk))
        generation.attempts = row["attempts"]
        allowed = retry.may_call_upstream(generation.attempts)
        if allowed:
            Generation.objects.filter(pk=generation.pk).update(
                upstream_sent_at=now, channel=channel.name
            )
    if not allowed:
        raise _gave_up(generation, last_error)
    generation.upstream_sent_at, generation.channel = now, channel.name


def _mark_sent_returning(generation: Generation, channel: ChannelConfig, now: Any) -> bool:
    """`_mark_sent` in one statement when it may send: the UPDATE locks the row and
    checks the token and the cap (retry.upstream_calls, counted in SQL) on the row as it
    is then, so no BEGIN, SELECT … FOR UPDATE and COMMIT around it. False if nothing
    was marked."""
    table = Generation._meta.db_table
    sql = f"""
        UPDATE {table} SET upstream_sent_at = %s, channel = %s
        WHERE id = %s AND lease_token = %s AND status = ANY(%s)
          AND (
            SELECT count(*) FROM jsonb_array_elements(COALESCE(attempts, '[]'::jsonb)) a
            WHERE a->>'phase' = ANY(%s)
              AND (a->>'code' IS NULL OR NOT a->>'code' = ANY(%s))
          ) < %s
        RETURNING attempts
    """  # noqa: S608  (the table name from the model, every value a parameter)
    params = [
        now,
        channel.name,
        generation.pk,
        generation.lease_token,
        [str(status) for status in leases.UNFINISHED],
        sorted(retry.CALL_PHASES),
        sorted(retry.NOT_CALLED_CODES),
        settings.DARKROOM_MAX_UPSTREAM_ATTEMPTS,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        marked = cursor.fetchone()
    if marked is None:
        return False
    value = marked[0]
    generation.attempts = json.loads(value) if isinstance(value, (str, bytes)) else value
    return True


def _check_lease(generation: Generation) -> None:
    if not leases.still_held(generation.pk, generation.lease_token):
        raise LeaseLost(str(generation.pk))


def _fails_over(exc: ProviderError) -> bool:
    # Retryable (5xx, 429, timeouts, unreachable, garbage): another channel may serve it.
    # A refused key is that channel's misconfiguration, not the request's fault: the
    # next channel may serve it, and the failure counts toward the channel's cooling-off.
    return exc.retryable or exc.code == "upstream_auth_failed"


def _deadline(generation: Generation, provider: Provider) -> float:
    """When polling gives up: the format's own limit, never past the job's deadline."""
    return min(time.time() + provider.deadline(), _job_end(generation))


def _job_end(generation: Generation) -> float:
    return generation.created_at.timestamp() + settings.DARKROOM_JOB_DEADLINE


# Failures of one poll request (not of the job): poll again later, same task.
TRANSIENT_POLL_CODES = {
    "upstream_unavailable",
    "upstream_timeout",
    "upstream_rate_limited",
    "upstream_bad_response",
}


def _poll(generation: Generation) -> StepResult:
    state = generation.upstream_state or {}
    channel = channel_named(generation.model, state.get("channel", generation.channel))
    deadline = float(state.get("deadline", time.time() + 1))
    if time.time() > deadline:
        exc = ProviderError(
            f"{channel.name} did not finish job {generation.upstream_id} in time",
            code="upstream_timeout",
            retryable=False,
        )
        _record_attempt(generation, channel, exc, phase="poll")
        raise exc
    try:
        release_connection()
        outcome = provider_for(channel).poll(state.get("state", {}))
    except ProviderError as exc:
        if exc.retryable and exc.code in TRANSIENT_POLL_CODES:
            channel_failed(name=channel.name, error=exc, person=generation.user_id)
            wait = min(retry.backoff(1, exc.retry_after), max(0.0, deadline - time.time()) + 0.1)
            return StepResult(delay=wait)
        # The upstream accepted the task and then failed it (BFL's `Error`, Replicate's
        # `failed`): it may have billed it, so it is a failed attempt, never re-submitted.
        exc.retryable = False
        _record_attempt(generation, channel, exc, phase="poll")
        _check_lease(generation)
        raise
    return _handle_outcome(generation, channel, outcome, deadline=deadline)


def _handle_outcome(
    generation: Generation, channel: ChannelConfig, outcome: Completed | Pending, *, deadline: float
) -> StepResult:
    if isinstance(outcome, Pending):
        return _keep_pending(generation, channel, outcome, deadline=deadline)
    # Downloaded in this very step: upstream links expire (BFL's in ~10 minutes).
    try:
        release_connection()  # none held through the download and the image work
        images = download_results(outcome.images[: generation.n], channel)
    except ProviderError as exc:
        exc.retryable = exc.code == "result_expired" and retry.may_regenerate_expired(
            generation.attempts
        )
        _record_attempt(generation, channel, exc, phase="download")
        _check_lease(generation)
        raise
    _store_paid(generation, Spooled(images, channel.name, outcome.upstream_id))
    return StepResult()


def _keep_pending(
    generation: Generation, channel: ChannelConfig, outcome: Pending, *, deadline: float
) -> StepResult:
    # The upstream accepted (and will bill) the job: keep its id through an outage, even
    # if our lease moved on, as long as no other call was sent since ours.
    kept = retry.until_stored(
        lambda: Generation.objects.filter(
            pk=generation.pk,
            status__in=leases.UNFINISHED,
            upstream_sent_at=generation.upstream_sent_at,
        ).update(
            channel=channel.name,
            upstream_id=outcome.upstream_id,
            upstream_state={"channel": channel.name, "state": outcome.state, "deadline": deadline},
            upstream_sent_at=None,
        ),
        until=_job_end(generation),
    )
    if not kept:
        raise LeaseLost(str(generation.pk))
    generation.upstream_sent_at = None
    _check_lease(generation)
    return StepResult(delay=min(outcome.poll_after, retry.max_countdown()))


def _store_paid(generation: Generation, result: Spooled) -> None:
    """The upstream has been paid: store the images through a database or object-store
    outage (spooled locally meanwhile) until the job's deadline. Stored even if the
    lease moved on, as long as the job is unfinished."""
    retry.until_stored(
        lambda: generation_succeed(
            generation=generation,
            images=result.images,
            channel=result.channel,
            upstream_id=result.upstream_id,
        ),
        until=_job_end(generation),
        on_failure=lambda: spool_write(generation.pk, result),
    )
    spool_drop(generation.pk)


def _after_failure(generation: Generation, exc: ProviderError) -> StepResult:
    _check_lease(generation)  # moved on: what comes next is its new holder's to decide
    if exc.retryable and retry.may_retry(generation.retries):
        if retry.may_call_upstream(generation.attempts):
            # The failure is known (not an interruption): the next step submits afresh.
            retried = Generation.objects.filter(
                pk=generation.pk, lease_token=generation.lease_token
            ).update(retries=F("retries") + 1, upstream_state=None, upstream_sent_at=None)
            if not retried:
                raise LeaseLost(str(generation.pk))
            return StepResult(delay=retry.backoff(generation.retries, exc.retry_after))
        exc = _gave_up(generation, exc)
    generation_fail(generation_id=generation.pk, code=exc.code, message=exc.message)
    return StepResult()


def _provider_request(generation: Generation) -> ProviderRequest:
    images: dict[str, list[InputImage]] = {}
    for ref in read_references(generation.references.all()):
        images.setdefault(ref.param, []).append(InputImage(data=ref.data, mime=ref.mime))
    return ProviderRequest(
        prompt=generation.prompt,
        params=dict(generation.params),
        images=images,
        request_id=str(generation.pk),
        callback=bfl_callback(generation.pk),
    )


def attempt_entry(
    phase: str,
    *,
    channel: str = "",
    fmt: str = "",
    error: ProviderError | None = None,
    code: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """One entry of a job's `attempts`; every place that records one builds it here.

    `code` / `message` stand for an outcome that is not an upstream's error (a resume,
    giving up); an entry with neither them nor `error` is a call that succeeded.
    """
    entry: dict[str, Any] = {
        "channel": channel,
        "format": fmt,
        "phase": phase,
        "at": timezone.now().isoformat(),
        "ok": error is None and code is None,
        "code": code if code is not None else (error.code if error else ""),
        "message": message if message is not None else (error.message if error else ""),
    }
    if error is not None and error.retry_after:
        entry["retry_after"] = error.retry_after
    return entry


def _append_attempt(
    generation: Generation, entry: dict[str, Any], *, fenced: bool, **fields: Any
) -> bool:
    """Append `entry` in the UPDATE itself (a late worker's entry never overwrites
    another's); `fenced`: only while our lease token holds. False if nothing matched.
    Kept through a database outage, up to the job's deadline: it may record a call
    that cost money."""
    rows = Generation.objects.filter(pk=generation.pk)
    if fenced:
        rows = rows.filter(lease_token=generation.lease_token)
    appended = JSONAppend("attempts", entry, unless=_paid_once(entry))
    updated = retry.until_stored(
        lambda: rows.update(attempts=appended, **fields),
        until=_job_end(generation),
    )
    generation.attempts = [*generation.attempts, entry]
    return bool(updated)


def _sent_at(generation: Generation) -> str:
    assert generation.upstream_sent_at is not None
    return generation.upstream_sent_at.isoformat()


def _paid_once(entry: dict[str, Any]) -> tuple[str, str, Any] | None:
    """One upstream call is paid once. A late worker's entry for its call and the resume
    note of the worker that took the step over (both name the call by its "sent" mark)
    would each bill it: whichever comes second costs nothing."""
    if "sent_at" not in entry or entry_cost(entry) <= 0:
        return None
    return "sent_at", entry["sent_at"], {**entry, "cost": "0", "paid_in": "earlier entry"}


def _record_attempt(
    generation: Generation,
    channel: ChannelConfig,
    error: ProviderError | None,
    *,
    phase: str = "submit",
) -> None:
    entry = attempt_entry(phase, channel=channel.name, fmt=channel.format, error=error)
    if channel.priced:  # read with the channel, just before the call: no query
        cost = attempt_cost(generation, channel.name, error, phase=phase, terms=channel.price)
    else:
        # Read from the database: kept through an outage like the entry itself, or a
        # late worker would drop an answer it has paid for.
        cost = retry.until_stored(
            lambda: attempt_cost(generation, channel.name, error, phase=phase),
            until=_job_end(generation),
        )
    entry.update(cost)
    if phase == "submit" and generation.upstream_sent_at is not None:
        entry["sent_at"] = _sent_at(generation)
    if error is None:
        # A successful call stays "sent" until its outcome is stored.
        _append_attempt(generation, entry, fenced=False)
        return
    # A failed call is accounted for by this entry: clear its "sent" mark, if the mark
    # is still ours (never another worker's, for a call of its own).
    ours = When(upstream_sent_at=generation.upstream_sent_at, then=Value(None))
    unmarked = Case(ours, default=F("upstream_sent_at"), output_field=DateTimeField())
    _append_attempt(generation, entry, fenced=False, upstream_sent_at=unmarked)
    generation.upstream_sent_at = None
