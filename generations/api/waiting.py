"""Wait for a generation to finish without holding a thread.

With a Redis broker the worker publishes each finished generation's id (see
receivers.py); one subscription per event loop wakes the requests waiting on
it. A waiter still re-reads its job now and then, because pub/sub drops
messages sent while a subscriber reconnects. Without Redis the waiter polls the
database, starting fast and backing off to DARKROOM_API_POLL_INTERVAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

from common.ops import shutdown
from generations.models import Generation

from .sync import run_sync

log = logging.getLogger(__name__)

# With Redis, how often a waiter re-reads its job in case a message was lost.
SAFETY_RECHECK = 10.0
_FIRST_POLL = 0.2


def redis_url() -> str | None:
    url = str(settings.CELERY_BROKER_URL)
    return url if url.startswith(("redis://", "rediss://")) else None


class FinishedHub:
    """One Redis subscription that wakes every waiter of this event loop."""

    def __init__(self, url: str, channel: str) -> None:
        self.url, self.channel = url, channel
        self.subscribed = asyncio.Event()
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task = asyncio.get_running_loop().create_task(self._listen())

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


def hub() -> FinishedHub | None:
    url = redis_url()
    if url is None:
        return None
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = FinishedHub(url, settings.DARKROOM_API_FINISHED_CHANNEL)
    return _hubs[loop]


def _wake_every_waiter() -> None:
    # From the SIGTERM handler: each hub's events belong to its loop's thread.
    for loop, wakeups in list(_hubs.items()):
        loop.call_soon_threadsafe(wakeups.wake_all)


shutdown.on_drain(_wake_every_waiter)


def _is_finished(generation_id: str) -> bool:
    return Generation.objects.filter(pk=generation_id, status__in=Generation.FINISHED).exists()


async def wait_finished(generation_id: Any, *, timeout: float) -> bool:
    """True once the generation succeeded or failed; False if `timeout` ran out first."""
    gid = str(generation_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    wakeups = hub()
    event = wakeups.register(gid) if wakeups else None
    try:
        if wakeups is not None:
            # Registered before the first read, so a finish between the two still wakes us.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeups.subscribed.wait(), min(timeout, 2.0))
        pause = _FIRST_POLL
        while True:
            if await run_sync(_is_finished, gid):
                return True
            left = deadline - loop.time()
            if left <= 0 or shutdown.draining():  # draining: answer now, with the job id
                return False
            if event is not None and wakeups is not None and wakeups.subscribed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(left, SAFETY_RECHECK))
                if event.is_set():
                    # Published after the finishing commit: no need to read it back.
                    return True
            else:
                await asyncio.sleep(min(left, pause))
                pause = min(pause * 1.5, settings.DARKROOM_API_POLL_INTERVAL)
    finally:
        if event is not None and wakeups is not None:
            wakeups.unregister(gid, event)
