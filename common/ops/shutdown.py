"""Graceful shutdown of a web process: requests waiting on jobs answer before the end.

On SIGTERM uvicorn stops accepting connections and gives running requests
`--timeout-graceful-shutdown` seconds, then cuts them. An API call waiting minutes
for its job would be cut without a word; instead, once the process is draining,
waiters stop waiting and answer as at the wait ceiling: 504 naming the job and where
to fetch it (the job itself goes on in the worker).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)
_draining = threading.Event()
_callbacks: list[Callable[[], None]] = []


def draining() -> bool:
    return _draining.is_set()


def on_drain(callback: Callable[[], None]) -> None:
    """Call `callback` (from the signal handler, so: quick, thread-safe) when draining starts."""
    _callbacks.append(callback)


def start_draining() -> None:
    if _draining.is_set():
        return
    _draining.set()
    log.info("draining: waiting API requests answer with their job id now")
    for callback in _callbacks:
        callback()


def chain_sigterm() -> None:
    """Run before the server's own SIGTERM handler, which stays in charge of stopping.

    Only where a server already installed one (uvicorn does before importing the
    app): other processes keep the default behaviour.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return

    def handler(signum: int, frame: FrameType | None) -> Any:
        start_draining()
        return previous(signum, frame)

    signal.signal(signal.SIGTERM, handler)


class DrainOnSigterm:
    """ASGI wrapper chaining onto the server's SIGTERM handler from its first call.

    Not at import: `uvicorn module:app` imports the app before it installs its
    handlers; the lifespan startup (or first request) comes after.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.chained = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not self.chained:
            self.chained = True
            chain_sigterm()
        await self.app(scope, receive, send)
