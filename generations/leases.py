"""Who runs a job, until when: leases on generation rows, a heartbeat, and the relay.

The row is the truth and a broker message only a nudge (a transactional outbox):

- A job is committed `queued` with a lease that nobody holds, ending
  `DARKROOM_LEASE_SECONDS` later; its message is published on commit.
- A worker runs a step only after `claim()` took the lease with one conditional
  UPDATE (same step, lease free, expired or already this process's), which also
  bumps `lease_token`, the fencing token. While it runs, the heartbeat thread
  renews every lease this process holds in one UPDATE. A heartbeat can be late
  (the database away, no pooled connection free): the relay then gives the step
  to another worker, and the late one finds its token moved on at its next write
  (generations.dispatch re-checks it before sending and after every answer).
- After the step, `release()` bumps the step, drops the owner and sets the lease
  to end a grace period after the next step is due; only with the step's token.
- `relay()` (run by beat) publishes again every unfinished
  job whose lease ended: never picked up, its message lost with the broker, its
  worker dead. The new message carries the row's step, so the old one, if it
  ever comes, is dropped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import F, Q, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.utils import timezone

from generations import publishing
from generations.models import Generation, ReferenceImage, Webhook

log = logging.getLogger(__name__)

UNFINISHED = (Generation.Status.QUEUED, Generation.Status.RUNNING)
_TOKEN = uuid.uuid4().hex[:8]
_held: set[str] = set()
_held_lock = threading.Lock()
_heartbeat: threading.Thread | None = None


def owner() -> str:
    """This process (the pid changes in a forked pool child, and so does the owner)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{_TOKEN}"


def lease_seconds() -> float:
    return float(settings.DARKROOM_LEASE_SECONDS)


def initial_lease() -> Any:
    """The lease a new job is committed with: nobody's, ending if nobody picks it up."""
    return timezone.now() + timedelta(seconds=lease_seconds())


def claim(generation_id: Any, step: int | None) -> bool:
    """Take the lease for `step` (None: whatever step the row is at); False if not ours."""
    key = str(generation_id)
    with _held_lock:
        if key in _held:
            return False  # another thread of this process runs it right now
        _held.add(key)
    now = timezone.now()
    free = Q(lease_owner="") | Q(lease_owner=owner()) | Q(lease_expires_at__lt=now)
    rows = Generation.objects.filter(free, pk=generation_id, status__in=UNFINISHED)
    if step is not None:
        rows = rows.filter(step=step)
    try:
        taken = rows.update(
            lease_owner=owner(),
            lease_expires_at=now + timedelta(seconds=lease_seconds()),
            status=Generation.Status.RUNNING,
            started_at=Coalesce(F("started_at"), now),
            lease_token=F("lease_token") + 1,
        )
    except BaseException:
        forget(generation_id)
        raise
    if not taken:
        forget(generation_id)
        return False
    _ensure_heartbeat()
    return True


def claim_and_read(generation_id: Any, step: int | None) -> Generation | None:
    """`claim()`, and the claimed row (its references loaded) in the same round trip on
    PostgreSQL: `UPDATE … RETURNING` instead of the UPDATE, a SELECT and a SELECT of its
    references (none for most jobs). None if the lease is not ours."""
    if connection.vendor != "postgresql":
        if not claim(generation_id, step):
            return None
        try:
            return Generation.objects.prefetch_related("references").get(pk=generation_id)
        except BaseException:
            forget(generation_id)
            raise
    key = str(generation_id)
    with _held_lock:
        if key in _held:
            return None  # another thread of this process runs it right now
        _held.add(key)
    try:
        generation = _claim_returning(generation_id, step)
    except BaseException:
        forget(generation_id)
        raise
    if generation is None:
        forget(generation_id)
        return None
    _ensure_heartbeat()
    return generation


def _claim_returning(generation_id: Any, step: int | None) -> Generation | None:
    # The same conditional UPDATE as claim(), its row returned, and whether the job has
    # reference images (with none, the step reads no reference rows) and a webhook to
    # send (with none, finishing it asks for none: generations.api.receivers).
    meta, refs, hooks = Generation._meta, ReferenceImage._meta, Webhook._meta
    now = timezone.now()
    me = owner()
    params: list[Any] = [
        me,
        now + timedelta(seconds=lease_seconds()),
        Generation.Status.RUNNING,
        now,
        generation_id,
        [str(status) for status in UNFINISHED],
        me,
        now,
    ]
    step_filter = ""
    if step is not None:
        step_filter = "AND step = %s"
        params.append(step)
    sql = f"""
        WITH claimed AS (
            UPDATE {meta.db_table}
            SET lease_owner = %s, lease_expires_at = %s, status = %s,
                started_at = COALESCE(started_at, %s), lease_token = lease_token + 1
            WHERE id = %s AND status = ANY(%s)
              AND (lease_owner = '' OR lease_owner = %s OR lease_expires_at < %s)
              {step_filter}
            RETURNING *
        )
        SELECT claimed.*, EXISTS (
            SELECT 1 FROM {refs.db_table} r WHERE r.generation_id = claimed.id
        ) AS has_references, EXISTS (
            SELECT 1 FROM {hooks.db_table} w WHERE w.generation_id = claimed.id
        ) AS has_webhook
        FROM claimed
    """  # noqa: S608  (table names from the models, every value a parameter)
    found = list(Generation.objects.raw(sql, params))
    if not found:
        return None
    generation = found[0]
    if generation.has_references:  # type: ignore[attr-defined]
        prefetch_related_objects([generation], "references")
    else:
        # What a prefetch that found nothing leaves: iterating it builds no query.
        none = generation.references.none()
        none._result_cache, none._prefetch_done = [], True  # type: ignore[attr-defined]
        generation._prefetched_objects_cache = {"references": none}  # type: ignore[attr-defined]
    return generation


def release(generation_id: Any, *, delay: float, token: int) -> int | None:
    """End this step (the lease `token` took): the next one is due in `delay` seconds.
    Its step number, or None if the lease moved on meanwhile (the relay gave the job to
    someone else)."""
    due = timezone.now() + timedelta(seconds=delay + lease_seconds())
    rows = Generation.objects.filter(pk=generation_id, lease_token=token, status__in=UNFINISHED)
    moved = rows.update(step=F("step") + 1, lease_owner="", lease_expires_at=due)
    if not moved:
        log.warning("generation %s: lease lost before the step ended", generation_id)
        return None
    return int(Generation.objects.values_list("step", flat=True).get(pk=generation_id))


def still_held(generation_id: Any, token: int) -> bool:
    """Is `token` still the step's fencing token (nobody claimed the job since)?"""
    return Generation.objects.filter(
        pk=generation_id, lease_token=token, status__in=UNFINISHED
    ).exists()


def forget(generation_id: Any) -> None:
    with _held_lock:
        _held.discard(str(generation_id))


def renew_held() -> int:
    """Extend every lease this process holds, in one UPDATE; the number renewed."""
    with _held_lock:
        held = list(_held)
    if not held:
        return 0
    until = timezone.now() + timedelta(seconds=lease_seconds())
    return Generation.objects.filter(pk__in=held, lease_owner=owner()).update(
        lease_expires_at=until
    )


def _beat_while_holding() -> None:
    global _heartbeat
    while True:
        threading.Event().wait(lease_seconds() / 3)
        with _held_lock:
            if not _held:  # nothing to renew: stop; the next claim starts a new one
                _heartbeat = None
                return
        try:
            renew_held()
        except Exception:  # the database may be away for a while; try again next beat
            log.warning("lease heartbeat failed", exc_info=True)
        _close_connection()


def _close_connection() -> None:
    # Closing checks the connection, which reconnects: with the database away that
    # raises too, and must not end the heartbeat of every job this process runs.
    try:
        close_old_connections()
    except Exception:
        log.warning("lease heartbeat could not close its connection", exc_info=True)


def _ensure_heartbeat() -> None:
    global _heartbeat
    with _held_lock:
        if _heartbeat is not None and _heartbeat.is_alive():
            return
        _heartbeat = threading.Thread(
            target=_beat_while_holding, name="lease-heartbeat", daemon=True
        )
        _heartbeat.start()


def relay(*, limit: int = 500) -> int:
    """Publish again every unfinished job whose lease ended; the number published."""
    now = timezone.now()
    due = (
        Generation.objects.filter(status__in=UNFINISHED, lease_expires_at__lt=now)
        .order_by("lease_expires_at")
        .values_list("pk", "step")[:limit]
    )
    published = 0
    for pk, step in list(due):
        # Conditional, so two beats (or a beat and a late worker) never both take it.
        took = Generation.objects.filter(pk=pk, step=step, lease_expires_at__lt=now).update(
            lease_owner="", lease_expires_at=now + timedelta(seconds=lease_seconds())
        )
        if took and publishing.publish(pk, step=step):
            published += 1
    if published:
        log.info("relay published %d generation(s) again", published)
    return published
