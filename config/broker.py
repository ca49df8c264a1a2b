"""The Redis broker transport, with one Redis client per channel instead of one per call.

kombu's Redis channel builds a new `redis.Redis` object for every command it runs
outside the consumer's BRPOP (`Channel.conn_or_acquire()`): recording a received
message as unacked, the late ack, publishing, restoring unacked messages. Each build
copies redis-py's table of response callbacks, ~0.1 ms of CPU here (py-spy, P6: the
consumer's receive bookkeeping and the ack were 18 % of the worker's Python time). The
client holds no connection of its own (it borrows one from the channel's pool per
command and a pipeline is a new object each time) and redis-py clients are safe to share
between threads, so the channel keeps one for as long as its pool lives.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool  # a new pool (after a fork or a reconnect) gets a new client
        shared = self.__dict__.get("_shared_client")
        if shared is None or shared.connection_pool is not pool:
            shared = self._create_client()  # type: ignore[attr-defined]
            self.__dict__["_shared_client"] = shared
        yield shared


class Transport(kombu_redis.Transport):
    Channel = Channel
