"""P5's web process with timestamps: Darkroom's ASGI app, its live hub traced.

    uvicorn bench.p5_trace:application

Bench-only. Each job event the /live/ stream sends carries a "trace" of wall-clock
times (ms since the epoch, comparable with the page's Date.now() on the same machine):

  heard  the hub's Redis message for the person arrived (the last one before the read)
  read0  the read of the person's changes started on the thread pool
  read1  it ended (rows read, card, tile and quota rendered)
  sent   the event's text was handed to the server

The page adds when the event arrived and when the card and its image were shown.
Each image response carries a Server-Timing header with the moments the app got the
request ("app0") and sent its headers ("app1"), read by the page from Resource Timing.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime
from typing import Any

from config.asgi import application as darkroom
from generations.portal import live

__all__ = ["application"]

_heard: dict[int, float] = {}


def _now() -> float:
    return time.time() * 1000


_on_message = live.LiveHub._on_message


def _traced_on_message(self: live.LiveHub, data: bytes) -> None:
    with contextlib.suppress(ValueError):  # "<person>" or "<person> <job>"
        _heard[int(data.split()[0])] = _now()
    _on_message(self, data)


_read_changes = live.read_changes


def _traced_read_changes(*args: Any, **kwargs: Any) -> Any:
    started = _now()
    heard = dict(_heard)
    found = _read_changes(*args, **kwargs)
    ended = _now()
    for (user_id, _), changes in found.items():
        for change in changes:
            trace = {"heard": heard.get(user_id), "read0": started, "read1": ended}
            object.__setattr__(change, "_trace", trace)
    return found


def _traced_event(self: live.Change, cursor: datetime) -> str:
    data = json.loads(self.data)
    data["trace"] = {**getattr(self, "_trace", {}), "sent": _now()}
    return f"id: {cursor.timestamp():.6f}\nevent: job\ndata: {json.dumps(data)}\n\n"


live.LiveHub._on_message = _traced_on_message  # type: ignore[method-assign]
live.read_changes = _traced_read_changes
live.Change.event = _traced_event  # type: ignore[method-assign]


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http" or not scope["path"].endswith(("/thumbnail/", "/original/")):
        return await darkroom(scope, receive, send)
    arrived = _now()

    async def timed(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            timing = f'app0;desc="{arrived:.1f}", app1;desc="{_now():.1f}"'.encode()
            message = {**message, "headers": [*message["headers"], (b"server-timing", timing)]}
        await send(message)

    return await darkroom(scope, receive, timed)
