"""The bench's wave client: C requests sent at once, each on a connection of its own.

httpx spent ~2.2 ms of CPU per call in P2's direct wave (lanes of pooled clients, its
request and response models), more than the simulator's own 0.7 ms: on two shared
cores the client, not the upstream, set the wave's pace. A wave needs little of a
client: one POST per connection and its status. Here each call is an asyncio protocol
that writes a prebuilt request and feeds the answer to httptools' parser (the C parser
uvicorn uses, already installed with it), ~0.3 ms a call.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

import httptools


class _Call(asyncio.Protocol):
    def __init__(self, request: bytes) -> None:
        self.request = request
        self.done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._finish(None)

    def on_message_complete(self) -> None:  # httptools' callback
        self._finish(self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self._finish(None)

    def _finish(self, status: int | None) -> None:
        if not self.done.done():
            self.done.set_result(status)


def post_request(url: str, key: str, body: dict[str, Any]) -> tuple[str, int, bytes]:
    """(host, port, the request's bytes) for a JSON POST that closes its connection."""
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return parts.hostname or "127.0.0.1", parts.port or 80, head.encode() + payload


async def call(host: str, port: int, request: bytes, timeout: float) -> float | None:
    """Seconds until a 200 answer was whole, or None (another status, an error, a timeout)."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    try:
        transport, proto = await asyncio.wait_for(
            loop.create_connection(lambda: _Call(request), host, port), timeout
        )
    except (OSError, TimeoutError):
        return None
    try:
        status = await asyncio.wait_for(proto.done, timeout - (time.monotonic() - start))
    except TimeoutError:
        status = None
    finally:
        transport.close()
    return time.monotonic() - start if status == 200 else None


async def wave(url: str, key: str, body: dict[str, Any], clients: int, timeout: float) -> dict:
    host, port, request = post_request(url, key, body)
    start = time.monotonic()
    results = await asyncio.gather(*(call(host, port, request, timeout) for _ in range(clients)))
    wall = time.monotonic() - start
    done = [r for r in results if r is not None]
    return {"wall": wall, "done": len(done), "errors": clients - len(done), "latencies": done}
