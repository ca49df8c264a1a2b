"""The portal's live stream: each open page learns its person's job changes by push.

The worker publishes the id of the person whose job changed (see `publish_change`) on
one Redis channel. In each web process, one hub per event loop holds every open stream,
one subscription to that channel and one reader: a message marks its person "dirty",
and the reader answers all dirty people with one query on the shared thread pool
(generations.sync), renders each changed card once per language and hands it to
every stream of that person. No stream holds a thread while it waits.

The database is the truth, the message only a nudge. Without Redis, or while the
subscription is down, the hub re-reads every open stream's person each
DARKROOM_LIVE_POLL_INTERVAL (one query for all of them); with it, every
DARKROOM_LIVE_RECHECK for a message pub/sub lost. A change is what a row shows: created,
started or finished after the stream's cursor. Every read looks REREAD_MARGIN further
back (a commit can land after a later timestamp was read) and a stream skips the states
it has sent, so an event id (the cursor) sent back as Last-Event-ID loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.utils import timezone, translation
from redis.exceptions import RedisError

from accounts.quota import quota_status
from common.ops import shutdown
from generations.broker import redis_url
from generations.models import Generation, Image
from generations.signals import generation_changed
from generations.sync import run_sync

log = logging.getLogger(__name__)

# How far back every read looks again: a job committed after a later one was read.
REREAD_MARGIN = timedelta(seconds=30)
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
    quota: str

    @cached_property
    def data(self) -> str:
        # Encoded once, however many streams of the person it goes to.
        data = {"id": self.job, "status": self.status, "model": self.model, "card": self.card}
        data.update(tile=self.tile, quota=self.quota)
        return json.dumps(data)

    def event(self, cursor: datetime) -> str:
        return f"id: {cursor.timestamp():.6f}\nevent: job\ndata: {self.data}\n\n"


@dataclass(eq=False)
class Stream:
    """One open page: its person, language, cursor and the states already sent."""

    user_id: int
    language: str
    cursor: datetime
    sent: dict[str, str] = field(default_factory=dict)
    inbox: asyncio.Queue[list[Change]] = field(default_factory=asyncio.Queue)

    def offer(self, changes: list[Change]) -> None:
        fresh = [c for c in changes if self.sent.get(c.job) != c.status]
        for change in fresh:
            self.sent[change.job] = change.status
        if fresh:
            self.inbox.put_nowait(fresh)


# --- worker side -------------------------------------------------------------------


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


@receiver(generation_changed, dispatch_uid="portal-live-publish")
def publish_change(sender: Any, user_id: int, **kwargs: Any) -> None:  # noqa: ARG001
    url = redis_url()
    if url is None:  # the embedded default: open pages re-read on their own
        return
    try:
        _client(url).publish(settings.DARKROOM_LIVE_CHANNEL, str(user_id))
    except RedisError as exc:  # the hubs' re-read shows it a few seconds later
        log.warning("could not publish a change for person %s: %s", user_id, exc)


# --- reads (on the shared thread pool) -----------------------------------------------


def _changed_rows(wanted: dict[int, datetime]) -> list[Generation]:
    oldest = min(wanted.values()) - REREAD_MARGIN
    # Bounded by created_at (indexed per person): no job stays unfinished past its deadline.
    horizon = oldest - timedelta(seconds=settings.DARKROOM_JOB_DEADLINE + 600)
    unthumbed = Image.objects.filter(generation=OuterRef("pk"), thumbnail="")
    return list(
        Generation.objects.filter(user_id__in=list(wanted), created_at__gt=horizon)
        .filter(Q(created_at__gt=oldest) | Q(started_at__gt=oldest) | Q(finished_at__gt=oldest))
        .annotate(unthumbed=Exists(unthumbed))
        .select_related("user")
        .prefetch_related("images")
        .order_by("created_at")
    )


def _shown(row: Generation, now: datetime) -> bool:
    """Not a success whose thumbnails are still being made (announced when they are)."""
    fresh = row.finished_at is not None and now - row.finished_at < THUMBNAIL_GRACE
    return not (row.status == Generation.Status.SUCCEEDED and row.unthumbed and fresh)  # type: ignore[attr-defined]


def _render(row: Generation, language: str, quotas: dict[str, str]) -> Change:
    with translation.override(language):
        if row.model not in quotas:
            quota = quota_status(user=row.user, model=row.model)
            quotas[row.model] = render_to_string(
                "generations/_quota.html", {"quota": quota, "person": row.user}
            )
        at = max(t for t in (row.created_at, row.started_at, row.finished_at) if t)
        return Change(
            job=str(row.pk),
            status=row.status,
            model=row.model,
            at=at,
            card=render_to_string("generations/_job_card.html", {"job": row}),
            tile=render_to_string("generations/_gallery_generation.html", {"g": row}),
            quota=quotas[row.model],
        )


def read_changes(
    wanted: dict[int, datetime], languages: dict[int, set[str]]
) -> dict[tuple[int, str], list[Change]]:
    """Each person's changes since their cursor, rendered once per language they read."""
    now = timezone.now()
    found: dict[tuple[int, str], list[Change]] = {}
    quotas: dict[tuple[int, str], dict[str, str]] = {}
    for row in _changed_rows(wanted):
        if not _shown(row, now):
            continue
        for language in languages.get(row.user_id, ()):
            key = (row.user_id, language)
            change = _render(row, language, quotas.setdefault(key, {}))
            found.setdefault(key, []).append(change)
    return found


# --- the hub (one per event loop) ----------------------------------------------------


class LiveHub:
    def __init__(self, url: str | None) -> None:
        self.url = url
        self.streams: dict[int, set[Stream]] = {}
        self.subscribed = asyncio.Event()
        self._dirty: set[int] = set()
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read_forever()), loop.create_task(self._tick())]
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

    def mark(self, user_id: int) -> None:
        if user_id in self.streams:
            self._dirty.add(user_id)
            self._wake.set()

    def end_all(self) -> None:
        for streams in self.streams.values():
            for stream in streams:
                stream.inbox.put_nowait([])  # an empty batch: the stream ends

    async def _read_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            try:
                await self._read(dirty)
            except Exception:  # the database may be away a while: the next tick retries
                log.warning("reading live changes failed", exc_info=True)
                self._dirty |= dirty

    async def _read(self, dirty: set[int]) -> None:
        wanted: dict[int, datetime] = {}
        languages: dict[int, set[str]] = {}
        for user_id in dirty:
            streams = self.streams.get(user_id, set())
            if streams:
                wanted[user_id] = min(s.cursor for s in streams)
                languages[user_id] = {s.language for s in streams}
        if not wanted:
            return
        found = await run_sync(read_changes, wanted, languages)
        for user_id in wanted:
            for stream in list(self.streams.get(user_id, ())):
                stream.offer(found.get((user_id, stream.language), []))

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
        with contextlib.suppress(ValueError):
            self.mark(int(data))


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
                stream.cursor = max(stream.cursor, change.at)
                text.append(change.event(stream.cursor))
            yield "".join(text)
    finally:
        live.leave(stream)
