"""The simulator's asyncio transport: a waiting call costs a coroutine, not a thread.

A thousand calls held by `--latency 10` in the threaded transport meant a thousand
threads, each waking to look at its socket: on two cores the simulator, not the
platform under test, became the slowest part (bench P2). Here one event loop, on one
thread, reads every connection, drives each request's `Simulator.steps` (the same
routes, formats, faults and recording as the threaded server) and sleeps its waits
on the loop. Handlers run on the loop too: they are short CPU work either way.

HTTP/1.1 with keep-alive, Content-Length or chunked bodies; a "dropped" answer
closes the connection unanswered, as the threaded transport does.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import logging
import socket
import threading
import time
import uuid
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from simulator.core import Response, SimRequest, plain_error
from simulator.transport import MAX_BODY_BYTES, parse_body

if TYPE_CHECKING:
    from simulator.server import Simulator

logger = logging.getLogger("simulator")

# A waiting call looks at the stop flag and its client this often.
WAIT_SLICE = 0.5
IDLE_SECONDS = 120.0  # an idle keep-alive connection is closed after this long
_HEAD_LIMIT = 64 * 1024
# Hundreds of clients may connect in the same instant; past the backlog the kernel drops
# their SYNs and they try again a second later (bench P2's direct wave: 10.1 s -> 11.1 s).
BACKLOG = 4096


async def _settled(tasks: set[asyncio.Task[object]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


class BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class AsyncSimServer:
    """Bound at construction (so `port` is known at once), served by `start()`'s thread."""

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(address)
        self._sock.listen(BACKLOG)
        self.server_address = self._sock.getsockname()
        self.server_port = int(self.server_address[1])
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping = False

    @property
    def url_host(self) -> str:
        host = str(self.server_address[0])
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="darkroom-simulator", daemon=True
        )
        self._thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        server = loop.run_until_complete(
            # start_server listens again, with its own backlog (100 unless told).
            asyncio.start_server(self._client, sock=self._sock, limit=_HEAD_LIMIT, backlog=BACKLOG)
        )
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for writer in list(self._writers):  # hung calls included
                writer.close()
            # Connections idling between requests end here, not as "Task was destroyed
            # but it is pending!" when the loop is closed under them.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(_settled(pending))
            loop.close()

    def stop(self) -> None:
        self._stopping = True
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None
        with contextlib.suppress(OSError):
            self._sock.close()

    # -- one connection --

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while not self._stopping:
                keep = await self._one_request(reader, writer)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass  # the client went away, or idled out
        except asyncio.CancelledError:
            # The server stops. Ended rather than cancelled: Python 3.11's stream callback
            # logs a cancelled connection task as an error.
            pass
        except Exception:
            logger.exception("simulator connection failed")
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False when the connection should close."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_SECONDS)
        except asyncio.LimitOverrunError:
            await self._send(writer, plain_error(431, "bad_request", "headers too large"), "GET")
            return False
        started = time.monotonic()
        try:
            req, close = await self._request(head, reader, writer)
        except BadRequest as bad:
            await self._send(writer, bad.response, "GET")
            return False
        response = await self._answer(req, writer)
        await self._send(writer, response, req.method)
        logger.info(
            "%s %s -> %s (%.0f ms)",
            req.method,
            req.path,
            "dropped" if response.drop else response.status,
            (time.monotonic() - started) * 1000,
        )
        return not (response.drop or close)

    async def _request(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[SimRequest, bool]:
        line, _, rest = head.partition(b"\r\n")
        try:
            method, target, version = line.decode("latin-1").split()
        except ValueError:
            raise BadRequest(plain_error(400, "bad_request", "bad request line")) from None
        headers = http.client.parse_headers(io.BytesIO(rest))
        body = await _read_body(reader, headers)
        parts = urlsplit(target)
        host = headers.get("Host") or f"{self.url_host}:{self.server_port}"
        req = SimRequest(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query),
            headers=headers,
            body=body,
            request_id=str(uuid.uuid4()),
            base_url=f"http://{host}",
        )
        parse_body(req)
        connection = headers.get("Connection", "").lower()
        close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
        return req, close

    async def _answer(self, req: SimRequest, writer: asyncio.StreamWriter) -> Response:
        steps = self.sim.steps(req)
        try:
            seconds = next(steps)
            while True:
                seconds = steps.send(await self._wait(seconds, writer))
        except StopIteration as done:
            return done.value

    async def _wait(self, seconds: float, writer: asyncio.StreamWriter) -> bool:
        """Sleep on the loop; True if cut short by a stop or the client leaving."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping or writer.transport.is_closing():
                return True
            await asyncio.sleep(min(WAIT_SLICE, left))
        return False

    async def _send(self, writer: asyncio.StreamWriter, response: Response, method: str) -> None:
        if response.drop:
            writer.close()
            return
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:  # a status of a fault's own choosing
            reason = ""
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            "Server: DarkroomSimulator/1.0",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            *(f"{name}: {value}" for name, value in response.headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD":
            writer.write(response.body)
        await writer.drain()


async def _read_body(reader: asyncio.StreamReader, headers: http.client.HTTPMessage) -> bytes:
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        return await _read_chunked(reader)
    try:
        length = int(headers.get("Content-Length") or 0)
    except ValueError:
        raise BadRequest(plain_error(400, "bad_request", "bad Content-Length")) from None
    if length > MAX_BODY_BYTES:
        raise BadRequest(plain_error(413, "request_too_large", "request body too large"))
    return await reader.readexactly(length) if length > 0 else b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise BadRequest(plain_error(413, "request_too_large", "request body too large"))
        chunks.append(await reader.readexactly(size))
        await reader.readline()
