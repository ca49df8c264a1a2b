"""Running a generation: one task step at a time, upstream -> storage.

`generation_run` claims the row, submits to the model's channels in order
(failing over on retryable errors) or polls an asynchronous upstream, and
either finishes the generation (generations.services) or says when to run
again. It is safe to call twice for the same id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from common.db import release_connection
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

from . import leases, retry
from .callbacks.links import bfl_callback
from .models import Generation
from .references import read_references
from .results import download_results
from .services import announce, generation_fail, generation_succeed


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
    if not leases.claim(generation_id, step):
        return StepResult()
    try:
        # References read once: the upstream request and the signature both list them.
        generation = Generation.objects.prefetch_related("references").get(pk=generation_id)
        if generation.step == 0 and not generation.attempts:
            announce(generation)  # its first step: the card turns "running"
        return _end_step(generation_id, _advance(generation, channel_name))
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
        return _end_step(generation_id, _after_failure(generation, timeout))
    finally:
        leases.forget(generation_id)


def _advance(generation: Generation, channel_name: str | None) -> StepResult:
    try:
        if generation.upstream_state:
            return _poll(generation)
        if generation.upstream_sent_at:
            _resume_interrupted(generation)
        return _submit(generation, channel_name)
    except ProviderError as exc:
        return _after_failure(generation, exc)


def _end_step(generation_id: Any, result: StepResult) -> StepResult:
    if result.delay is None:
        return result
    step = leases.release(generation_id, delay=result.delay)
    return StepResult(delay=result.delay, step=step) if step is not None else StepResult()


def _resume_interrupted(generation: Generation) -> None:
    """A worker sent a submit upstream and stopped before storing what came back.

    The upstream may have done (and billed) the work, but its answer is gone: send
    it again, say so in the job's attempts, and count it as a retry, so a job is
    never paid for twice silently and never more often than the retry cap allows.
    """
    may_retry = retry.may_retry(generation.retries)
    note = {
        "channel": generation.channel,
        "format": "",
        "phase": "resume",
        "at": timezone.now().isoformat(),
        "ok": False,
        "code": "interrupted_after_send",
        "message": (
            "The worker stopped after sending this request upstream and before storing "
            + ("the answer; it was sent again." if may_retry else "the answer.")
        ),
    }
    generation.attempts = [*generation.attempts, note]
    Generation.objects.filter(pk=generation.pk).update(
        attempts=generation.attempts, upstream_sent_at=None, retries=F("retries") + 1
    )
    generation.retries += 1
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
        if not retry.may_call_upstream(generation.attempts):
            raise _gave_up(generation, last_error)
        _mark_sent(generation, channel)
        try:
            release_connection()  # none held while the upstream takes its time
            outcome = provider.submit(request)
        except ProviderError as exc:
            _record_attempt(generation, channel, exc)
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
        # lose an answer the upstream was paid for.
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
    generation.attempts = [
        *generation.attempts,
        {
            "channel": "",
            "phase": "gave_up",
            "at": timezone.now().isoformat(),
            "ok": False,
            "code": "max_upstream_attempts",
            "message": exc.message,
        },
    ]
    Generation.objects.filter(pk=generation.pk).update(attempts=generation.attempts)
    return exc


class LeaseLost(Exception):
    """Another worker took this job over (our lease ran out): stop, pay nothing more."""


def _mark_sent(generation: Generation, channel: ChannelConfig) -> None:
    # Durable before the call: if this worker dies mid-call, the next one knows.
    marked = Generation.objects.filter(pk=generation.pk, lease_owner=leases.owner()).update(
        upstream_sent_at=timezone.now(), channel=channel.name
    )
    if not marked:
        raise LeaseLost(str(generation.pk))
    generation.channel = channel.name


def _fails_over(exc: ProviderError) -> bool:
    # Retryable (5xx, 429, timeouts, unreachable, garbage): another channel may serve it.
    # A refused key is that channel's misconfiguration, not the request's fault: the
    # next channel may serve it, and the failure counts toward the channel's cooling-off.
    return exc.retryable or exc.code == "upstream_auth_failed"


def _deadline(generation: Generation, provider: Provider) -> float:
    """When polling gives up: the format's own limit, never past the job's deadline."""
    job_end = generation.created_at.timestamp() + settings.DARKROOM_JOB_DEADLINE
    return min(time.time() + provider.deadline(), job_end)


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
        _record_attempt(generation, channel, exc, phase="poll")
        raise
    return _handle_outcome(generation, channel, outcome, deadline=deadline)


def _handle_outcome(
    generation: Generation, channel: ChannelConfig, outcome: Completed | Pending, *, deadline: float
) -> StepResult:
    if isinstance(outcome, Pending):
        # The upstream accepted (and will bill) the job: keep its id through a hiccup.
        retry.on_database_errors(
            lambda: Generation.objects.filter(pk=generation.pk).update(
                channel=channel.name,
                upstream_id=outcome.upstream_id,
                upstream_state={
                    "channel": channel.name,
                    "state": outcome.state,
                    "deadline": deadline,
                },
                upstream_sent_at=None,
            )
        )
        return StepResult(delay=min(outcome.poll_after, retry.max_countdown()))
    # Downloaded in this very step: upstream links expire (BFL's in ~10 minutes).
    try:
        release_connection()  # none held through the download and the image work
        images = download_results(outcome.images[: generation.n], channel)
    except ProviderError as exc:
        exc.retryable = exc.code == "result_expired" and retry.may_regenerate_expired(
            generation.attempts
        )
        _record_attempt(generation, channel, exc, phase="download")
        raise
    # The upstream has been paid: a database hiccup now must not lose the images.
    retry.on_database_errors(
        lambda: generation_succeed(
            generation=generation,
            images=images,
            channel=channel.name,
            upstream_id=outcome.upstream_id,
        )
    )
    return StepResult()


def _after_failure(generation: Generation, exc: ProviderError) -> StepResult:
    if exc.retryable and retry.may_retry(generation.retries):
        if retry.may_call_upstream(generation.attempts):
            # The failure is known (not an interruption): the next step submits afresh.
            Generation.objects.filter(pk=generation.pk).update(
                retries=F("retries") + 1, upstream_state=None, upstream_sent_at=None
            )
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


def _record_attempt(
    generation: Generation,
    channel: ChannelConfig,
    error: ProviderError | None,
    *,
    phase: str = "submit",
) -> None:
    attempt: dict[str, Any] = {
        "channel": channel.name,
        "format": channel.format,
        "phase": phase,
        "at": timezone.now().isoformat(),
        "ok": error is None,
        "code": error.code if error else "",
        "message": error.message if error else "",
    }
    if error is not None and error.retry_after:
        attempt["retry_after"] = error.retry_after
    attempts = [*generation.attempts, attempt]
    # A failed call is accounted for by this attempt; a successful one stays "sent"
    # until its outcome is stored. Kept through a database hiccup: it records a call
    # that may have cost money.
    sent = F("upstream_sent_at") if error is None else None
    retry.on_database_errors(
        lambda: Generation.objects.filter(pk=generation.pk).update(
            attempts=attempts, upstream_sent_at=sent
        )
    )
    generation.attempts = attempts
