"""Wait for a generation to finish without holding a thread.

With a Redis broker the worker publishes each finished generation's id (see
receivers.py); one subscription per event loop wakes the requests waiting on
it. Pub/sub drops messages sent while a subscriber reconnects, so the same hub
re-reads, every SAFETY_RECHECK seconds, which of all its waiters' jobs finished:
one query for every waiter of the loop, not one per waiter. Without Redis (or
while the subscription is down) a waiter polls, starting fast and backing off to
DARKROOM_API_POLL_INTERVAL.

Every read goes through FinishedChecks: the reads asked for while one query runs
are answered together by the next, so 1,000 requests starting to wait at once
cost a few queries on the shared thread pool, not 1,000.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

from common.ops import shutdown
from generations.broker import redis_url
from generations.models import Generation
from generations.sync import run_sync

log = logging.getLogger(__name__)

# With Redis, how often the hub re-reads its waiters' jobs in case a message was lost.
SAFETY_RECHECK = 10.0
_FIRST_POLL = 0.2
# Ids per query (an IN list): a sweep of more waiters takes several.
_CHUNK = 500

Lookup = Callable[[list[str]], Awaitable[set[str]]]


class FinishedChecks:
    """Answers "has this job finished?" for one event loop's waiters, in batches.

    At most one lookup runs at a time; the questions asked meanwhile wait for the
    next one, which answers them all.
    """

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self._pending: dict[str, list[asyncio.Future[bool]]] = {}
        self._running: asyncio.Task[None] | None = None

    async def finished(self, generation_id: str) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.setdefault(generation_id, []).append(future)
        if self._running is None or self._running.done():
            self._running = loop.create_task(self._answer_pending())
        return await future

    async def _answer_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                done = await self.lookup(list(batch))
            except Exception as exc:  # every asker gets the error it would have had alone
                for futures in batch.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for generation_id, futures in batch.items():
                for future in futures:
                    if not future.done():  # a waiter that gave up has cancelled its own
                        future.set_result(generation_id in done)


class FinishedHub:
    """One Redis subscription that wakes every waiter of this event loop, and one
    periodic re-read of all their jobs for the messages pub/sub lost."""

    def __init__(
        self, url: str, channel: str, checks: FinishedChecks, *, every: float = SAFETY_RECHECK
    ) -> None:
        self.url, self.channel, self.checks, self.every = url, channel, checks, every
        self.subscribed = asyncio.Event()
        self._waiters: dict[str, set[asyncio.Event]] = {}
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._listen())
        self._sweeper = loop.create_task(self._sweep_forever())

    def register(self, generation_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.setdefault(generation_id, set()).add(event)
        return event

    def unregister(self, generation_id: str, event: asyncio.Event) -> None:
        events = self._waiters.get(generation_id, set())
        events.discard(event)
        if not events:
            self._waiters.pop(generation_id, None)

    def wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    def wake(self, generation_id: str) -> None:
        for event in self._waiters.get(generation_id, ()):
            event.set()

    async def sweep(self) -> int:
        """Wake the waiters whose jobs finished unannounced; how many jobs that was."""
        waiting = list(self._waiters)
        if not waiting:
            return 0
        done = await self.checks.lookup(waiting)
        for generation_id in done:
            self.wake(generation_id)
        return len(done)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except Exception:  # the database may be away a while: next sweep
                log.warning("re-reading waiting jobs failed", exc_info=True)

    async def _listen(self) -> None:
        while True:
            try:
                client = aioredis.Redis.from_url(self.url)
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.wake(message["data"].decode())
            except (RedisError, OSError) as exc:
                log.warning("finished-job subscription lost (%s); resubscribing", exc)
            finally:
                self.subscribed.clear()
            await asyncio.sleep(1.0)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FinishedHub] = (
    weakref.WeakKeyDictionary()
)
_checks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FinishedChecks] = (
    weakref.WeakKeyDictionary()
)


def checks() -> FinishedChecks:
    loop = asyncio.get_running_loop()
    if loop not in _checks:
        _checks[loop] = FinishedChecks(_finished_among)
    return _checks[loop]


def hub() -> FinishedHub | None:
    url = redis_url()
    if url is None:
        return None
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = FinishedHub(url, settings.DARKROOM_API_FINISHED_CHANNEL, checks())
    return _hubs[loop]


def _wake_every_waiter() -> None:
    # From the SIGTERM handler: each hub's events belong to its loop's thread.
    for loop, wakeups in list(_hubs.items()):
        loop.call_soon_threadsafe(wakeups.wake_all)


shutdown.on_drain(_wake_every_waiter)


def _finished_ids(generation_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(generation_ids), _CHUNK):
        rows = Generation.objects.filter(
            pk__in=generation_ids[start : start + _CHUNK], status__in=Generation.FINISHED
        )
        found.update(str(pk) for pk in rows.values_list("pk", flat=True))
    return found


async def _finished_among(generation_ids: list[str]) -> set[str]:
    """Which of these jobs have finished: one thread trip, a query per _CHUNK ids."""
    return await run_sync(_finished_ids, generation_ids)


async def wait_finished(generation_id: Any, *, timeout: float) -> bool:
    """True once the generation succeeded or failed; False if `timeout` ran out first."""
    gid = str(generation_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    reads = checks()
    wakeups = hub()
    event = wakeups.register(gid) if wakeups else None
    try:
        if wakeups is not None:
            # Registered before the first read, so a finish between the two still wakes us.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeups.subscribed.wait(), min(timeout, 2.0))
        if await reads.finished(gid):
            return True
        pause = _FIRST_POLL
        while True:
            left = deadline - loop.time()
            if left <= 0 or shutdown.draining():  # draining: answer now, with the job id
                return False
            if event is not None and wakeups is not None and wakeups.subscribed.is_set():
                # Woken by the job's message, or by the hub's sweep if it was lost; the
                # timeout only looks again at the subscription and the deadline.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(left, SAFETY_RECHECK))
                if event.is_set():
                    # Published after the finishing commit: no need to read it back.
                    return True
            else:
                await asyncio.sleep(min(left, pause))
                pause = min(pause * 1.5, settings.DARKROOM_API_POLL_INTERVAL)
                if await reads.finished(gid):
                    return True
    finally:
        if event is not None and wakeups is not None:
            wakeups.unregister(gid, event)
