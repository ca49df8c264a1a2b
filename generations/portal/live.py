"""The portal's live stream: each open page learns its person's job changes by push.

The worker publishes the ids of the person and of the job that changed (see
`publish_change`) on one Redis channel. In each web process, one hub per event loop
holds every open stream, one subscription to that channel and one reader: a message
marks that job of its person "dirty", and the reader answers all dirty jobs with one
query on the shared thread pool (generations.sync), renders each changed card once per
language (only the ones some stream of the person has not been sent yet) and hands it
to every stream of that person; the quota counter follows in an event of its own, read
QUOTA_DELAY after the cards. No stream holds a thread while it waits.

The database is the truth, the message only a nudge. Without Redis, or while the
subscription is down, the hub re-reads every open stream's person each
DARKROOM_LIVE_POLL_INTERVAL (one query for all of them); with it, every
DARKROOM_LIVE_RECHECK for a message pub/sub lost. Those re-reads, and the one when a
stream opens, look at the person's whole window: a change is what a row shows, created,
started or finished after the stream's cursor. Every such read looks REREAD_MARGIN
further back (a commit can land after a later timestamp was read) and a stream skips the
states it has sent, so an event id (the cursor) sent back as Last-Event-ID loses nothing.
A message names one job: that row is read and sent first, the person's window right
after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.db.models import Exists, OuterRef, Q, prefetch_related_objects
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.utils import timezone, translation
from redis.exceptions import RedisError

from accounts.models import User
from accounts.quota import quota_status
from common.ops import shutdown
from generations.broker import redis_url
from generations.models import Generation, Image
from generations.signals import generation_changed
from generations.sync import run_sync

log = logging.getLogger(__name__)

# How far back every read looks again: a job committed after a later one was read.
REREAD_MARGIN = timedelta(seconds=30)
# The quota counters follow the cards by this much: the page is fetching the card's
# image from this very process meanwhile (the counter's five reads and render would
# slow that), and a burst of changes of one person costs one read of the counter.
QUOTA_DELAY = 0.25
# A success whose thumbnails are not made after this long is shown anyway (the
# thumbnail view makes a missing one, S3 serves the original): its worker stopped.
THUMBNAIL_GRACE = timedelta(seconds=20)


@dataclass(frozen=True)
class Change:
    """One job's state as a page shows it, rendered in one language."""

    job: str
    status: str
    model: str
    at: datetime
    card: str
    tile: str

    @cached_property
    def data(self) -> str:
        # Encoded once, however many streams of the person it goes to.
        data = {"id": self.job, "status": self.status, "model": self.model, "card": self.card}
        data.update(tile=self.tile)
        return json.dumps(data)

    def event(self, cursor: datetime) -> str:
        return f"id: {cursor.timestamp():.6f}\nevent: job\ndata: {self.data}\n\n"


@dataclass(frozen=True)
class QuotaChange:
    """The quota counter of one model, rendered in one language; sent after the cards."""

    model: str
    quota: str

    @cached_property
    def data(self) -> str:
        return json.dumps({"model": self.model, "quota": self.quota})

    def event(self) -> str:
        # No id: the stream's cursor is the jobs', a quota is re-read with them.
        return f"event: quota\ndata: {self.data}\n\n"


@dataclass(eq=False)
class Stream:
    """One open page: its person, language, cursor and the states already sent."""

    user_id: int
    language: str
    cursor: datetime
    sent: dict[str, str] = field(default_factory=dict)
    quotas: dict[str, str] = field(default_factory=dict)  # model -> counter sent
    inbox: asyncio.Queue[list[Change | QuotaChange]] = field(default_factory=asyncio.Queue)

    def offer(self, changes: list[Change]) -> None:
        fresh = [c for c in changes if self.sent.get(c.job) != c.status]
        for change in fresh:
            self.sent[change.job] = change.status
        if fresh:
            self.inbox.put_nowait(list(fresh))

    def offer_quotas(self, quotas: list[QuotaChange]) -> None:
        fresh = [q for q in quotas if self.quotas.get(q.model) != q.quota]
        for quota in fresh:
            self.quotas[quota.model] = quota.quota
        if fresh:
            self.inbox.put_nowait(list(fresh))


# --- worker side -------------------------------------------------------------------


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


@receiver(generation_changed, dispatch_uid="portal-live-publish")
def publish_change(sender: Any, user_id: int, generation_id: str, **kwargs: Any) -> None:  # noqa: ARG001
    url = redis_url()
    if url is None:  # the embedded default: open pages re-read on their own
        return
    try:
        # "<person> <job>": the hubs read that one row (a bare "<person>": their window)
        _client(url).publish(settings.DARKROOM_LIVE_CHANNEL, f"{user_id} {generation_id}")
    except RedisError as exc:  # the hubs' re-read shows it a few seconds later
        log.warning("could not publish a change for person %s: %s", user_id, exc)


# --- reads (on the shared thread pool) -----------------------------------------------


def _changed_rows(
    wanted: dict[int, datetime], jobs: dict[int, set[str]], known: dict[int, dict[str, str]]
) -> list[Generation]:
    """The rows of the people's windows (`wanted`) and of the named jobs (`jobs`), less
    those in a state every stream of their person has been sent (`known`)."""
    found = Q(pk__in=[])
    if wanted:
        oldest = min(wanted.values()) - REREAD_MARGIN
        # Bounded by created_at (indexed per person): no job stays unfinished past its deadline.
        horizon = oldest - timedelta(seconds=settings.DARKROOM_JOB_DEADLINE + 600)
        found |= Q(user_id__in=list(wanted), created_at__gt=horizon) & (
            Q(created_at__gt=oldest) | Q(started_at__gt=oldest) | Q(finished_at__gt=oldest)
        )
    for user_id, ids in jobs.items():
        found |= Q(user_id=user_id, pk__in=list(ids))
    unthumbed = Image.objects.filter(generation=OuterRef("pk"), thumbnail="")
    rows: list[Generation] = [
        row
        for row in Generation.objects.filter(found)
        .annotate(unthumbed=Exists(unthumbed))
        .select_related("user")
        .order_by("created_at")
        if known.get(row.user_id, {}).get(str(row.pk)) != row.status
    ]
    prefetch_related_objects(rows, "images")  # only for the cards to render
    return rows


def _shown(row: Generation, now: datetime) -> bool:
    """Not a success whose thumbnails are still being made (announced when they are)."""
    fresh = row.finished_at is not None and now - row.finished_at < THUMBNAIL_GRACE
    return not (row.status == Generation.Status.SUCCEEDED and row.unthumbed and fresh)  # type: ignore[attr-defined]


def _render(row: Generation, language: str) -> Change:
    with translation.override(language):
        at = max(t for t in (row.created_at, row.started_at, row.finished_at) if t)
        return Change(
            job=str(row.pk),
            status=row.status,
            model=row.model,
            at=at,
            card=render_to_string("generations/_job_card.html", {"job": row}),
            tile=render_to_string("generations/_gallery_generation.html", {"g": row}),
        )


def read_changes(
    wanted: dict[int, datetime],
    languages: dict[int, set[str]],
    jobs: dict[int, set[str]] | None = None,
    known: dict[int, dict[str, str]] | None = None,
) -> dict[tuple[int, str], list[Change]]:
    """Each person's changes since their cursor (`wanted`) and of the named jobs (`jobs`),
    rendered once per language they read; `known`: what all their streams were sent."""
    now = timezone.now()
    found: dict[tuple[int, str], list[Change]] = {}
    for row in _changed_rows(wanted, jobs or {}, known or {}):
        if not _shown(row, now):
            continue
        for language in languages.get(row.user_id, ()):
            found.setdefault((row.user_id, language), []).append(_render(row, language))
    return found


def read_quotas(
    wanted: dict[tuple[int, str], set[str]],
) -> dict[tuple[int, str], list[QuotaChange]]:
    """The quota counters of each (person, language)'s models, rendered."""
    people = User.objects.in_bulk({user_id for user_id, _ in wanted})
    found: dict[tuple[int, str], list[QuotaChange]] = {}
    statuses: dict[tuple[int, str], Any] = {}
    for (user_id, language), models in wanted.items():
        person = people.get(user_id)
        if person is None:
            continue
        for model in sorted(models):
            if (user_id, model) not in statuses:
                statuses[user_id, model] = quota_status(user=person, model=model)
            with translation.override(language):
                html = render_to_string(
                    "generations/_quota.html",
                    {"quota": statuses[user_id, model], "person": person},
                )
            found.setdefault((user_id, language), []).append(QuotaChange(model, html))
    return found


# --- the hub (one per event loop) ----------------------------------------------------


class LiveHub:
    def __init__(self, url: str | None) -> None:
        self.url = url
        self.streams: dict[int, set[Stream]] = {}
        self.subscribed = asyncio.Event()
        # Person -> the jobs to read, or None: the person's whole window.
        self._dirty: dict[int, set[str] | None] = {}
        self._wake = asyncio.Event()
        # (person, language) -> the models whose counters are due, see QUOTA_DELAY
        self._quotas_due: dict[tuple[int, str], set[str]] = {}
        self._quotas_wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_forever()),
            loop.create_task(self._quotas_forever()),
            loop.create_task(self._tick()),
        ]
        if url is not None:
            self._tasks.append(loop.create_task(self._listen(url)))

    def join(self, stream: Stream) -> None:
        self.streams.setdefault(stream.user_id, set()).add(stream)
        self.mark(stream.user_id)  # a (re)connected page re-reads what it missed

    def leave(self, stream: Stream) -> None:
        streams = self.streams.get(stream.user_id, set())
        streams.discard(stream)
        if not streams:
            self.streams.pop(stream.user_id, None)

    def mark(self, user_id: int, job: str | None = None) -> None:
        """Read that job of the person again, or (no job) the person's whole window."""
        if user_id not in self.streams:
            return
        if job is None:
            self._dirty[user_id] = None
        elif user_id not in self._dirty:
            self._dirty[user_id] = {job}
        elif (jobs := self._dirty[user_id]) is not None:
            jobs.add(job)
        self._wake.set()

    def end_all(self) -> None:
        for streams in self.streams.values():
            for stream in streams:
                stream.inbox.put_nowait([])  # an empty batch: the stream ends

    async def _read_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, {}
            try:
                await self._read(dirty)
            except Exception:  # the database may be away a while: the next tick retries
                log.warning("reading live changes failed", exc_info=True)
                for user_id in dirty:
                    self.mark(user_id)

    async def _read(self, dirty: dict[int, set[str] | None]) -> None:
        named = {user_id: ids for user_id, ids in dirty.items() if ids is not None}
        if named:  # first the jobs the messages named: their cards go out at once
            await self._read_rows(named)
        # Then every dirty person's window, as every read did before jobs were named: what
        # a lost message did not announce is sent before the named job's event id (its
        # cursor) can be used to resume past it.
        await self._read_rows(dict.fromkeys(dirty))

    async def _read_rows(self, dirty: Mapping[int, set[str] | None]) -> None:
        wanted: dict[int, datetime] = {}
        jobs: dict[int, set[str]] = {}
        languages: dict[int, set[str]] = {}
        known: dict[int, dict[str, str]] = {}
        for user_id, ids in dirty.items():
            streams = self.streams.get(user_id, set())
            if not streams:
                continue
            languages[user_id] = {s.language for s in streams}
            known[user_id] = _sent_to_all(streams)
            if ids is None:
                wanted[user_id] = min(s.cursor for s in streams)
            else:
                jobs[user_id] = ids
        if not languages:
            return
        found = await run_sync(read_changes, wanted, languages, jobs, known)
        for user_id in languages:
            for stream in list(self.streams.get(user_id, ())):
                stream.offer(found.get((user_id, stream.language), []))
        # The counters after the cards: a card does not wait for the quota's reads.
        for key, changes in found.items():
            self._quotas_due.setdefault(key, set()).update(c.model for c in changes)
        if found:
            self._quotas_wake.set()

    async def _quotas_forever(self) -> None:
        while True:
            await self._quotas_wake.wait()
            await asyncio.sleep(QUOTA_DELAY)
            self._quotas_wake.clear()
            due, self._quotas_due = self._quotas_due, {}
            try:
                await self._send_quotas(due)
            except Exception:  # the database may be away a while: tried again shortly
                log.warning("reading live quota counters failed", exc_info=True)
                for key, models in due.items():
                    self._quotas_due.setdefault(key, set()).update(models)
                self._quotas_wake.set()
                await asyncio.sleep(settings.DARKROOM_LIVE_POLL_INTERVAL)

    async def _send_quotas(self, models: dict[tuple[int, str], set[str]]) -> None:
        quotas = await run_sync(read_quotas, models)
        for (user_id, language), counters in quotas.items():
            for stream in list(self.streams.get(user_id, ())):
                if stream.language == language:
                    stream.offer_quotas(counters)

    async def _tick(self) -> None:
        while True:
            up = self.subscribed.is_set()
            await asyncio.sleep(
                settings.DARKROOM_LIVE_RECHECK if up else settings.DARKROOM_LIVE_POLL_INTERVAL
            )
            for user_id in list(self.streams):
                self.mark(user_id)

    async def _listen(self, url: str) -> None:
        while True:
            try:
                client = aioredis.Redis.from_url(url)
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(settings.DARKROOM_LIVE_CHANNEL)
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._on_message(message["data"])
            except (RedisError, OSError) as exc:
                log.warning("live subscription lost (%s); resubscribing", exc)
            finally:
                self.subscribed.clear()
            await asyncio.sleep(1.0)

    def _on_message(self, data: bytes) -> None:
        person, _, job = data.decode(errors="replace").partition(" ")
        with contextlib.suppress(ValueError):
            user_id = int(person)
            try:
                self.mark(user_id, str(uuid.UUID(job)))
            except ValueError:  # no job named: the person's whole window
                self.mark(user_id)


def _sent_to_all(streams: set[Stream]) -> dict[str, str]:
    """The job states every one of these streams has been sent."""
    first, *others = streams
    return {
        job: status
        for job, status in first.sent.items()
        if all(other.sent.get(job) == status for other in others)
    }


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()


def hub() -> LiveHub:
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = LiveHub(redis_url())
    return _hubs[loop]


def _end_every_stream() -> None:
    # From the SIGTERM handler: each hub belongs to its loop's thread.
    for loop, live in list(_hubs.items()):
        loop.call_soon_threadsafe(live.end_all)


shutdown.on_drain(_end_every_stream)


def parse_cursor(value: str | None) -> datetime:
    """A stream's starting point: a Last-Event-ID, else now; never more than an hour back."""
    now = timezone.now()
    try:
        at = datetime.fromtimestamp(float(value or ""), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return now
    return min(max(at, now - timedelta(hours=1)), now)


async def events(stream: Stream) -> AsyncIterator[str]:
    """The stream's text: job events, and a comment every DARKROOM_LIVE_HEARTBEAT."""
    live = hub()
    live.join(stream)
    try:
        # Sent at once: proxies and browsers see the stream open before any change.
        yield "retry: 2000\n: open\n\n"
        while not shutdown.draining():
            try:
                batch = await asyncio.wait_for(stream.inbox.get(), settings.DARKROOM_LIVE_HEARTBEAT)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if not batch:
                return
            text = []
            for change in batch:
                if isinstance(change, QuotaChange):
                    text.append(change.event())
                    continue
                stream.cursor = max(stream.cursor, change.at)
                text.append(change.event(stream.cursor))
            yield "".join(text)
    finally:
        live.leave(stream)
