"""Request recording: `Recorder` keeps what the platform sent, for tests to assert on.

Served by `GET /_sim/requests` and `SimulatorServer.requests()`.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections import deque
from typing import Any

from simulator.core import Format, SimRequest, UploadedFile

MAX_RECORDED = 2000
MAX_RECORDED_BYTES = 256 * 1024 * 1024
# Header values worth asserting on; transport noise (host, connection...) is left out.
_UNRECORDED_HEADERS = {"host", "connection", "content-length", "accept-encoding", "keep-alive"}


class Recorder:
    """Every request received outside the control API, oldest first.

    Bodies are kept whole (tests assert what was sent, data URLs included), so
    the log is bounded by count and by total body bytes, dropping the oldest.
    """

    def __init__(self, maxlen: int = MAX_RECORDED, max_bytes: int = MAX_RECORDED_BYTES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque()
        self._maxlen, self._max_bytes, self._bytes = maxlen, max_bytes, 0
        self._seq = 0

    def start(self, req: SimRequest, fmt: Format | None) -> dict[str, Any]:
        entry = {
            "request_id": req.request_id,
            "time": time.time(),
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "format": fmt.name if fmt is not None else None,
            "headers": {
                k.lower(): v for k, v in req.headers.items() if k.lower() not in _UNRECORDED_HEADERS
            },
            "json": req.json,
            "form": req.form,
            "files": [_file_summary(f) for f in req.files],
            "body_size": len(req.body),
            "status": None,  # filled in when the answer goes out (None while in flight)
            "fault": None,
            "notes": {},
        }
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            self._bytes += len(req.body)
            while len(self._entries) > 1 and (
                len(self._entries) > self._maxlen or self._bytes > self._max_bytes
            ):
                self._bytes -= self._entries.popleft()["body_size"]
        return entry

    def finish(self, entry: dict[str, Any], status: int | None) -> None:
        with self._lock:
            entry["status"] = status

    def list(self, path: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            entries = [e for e in self._entries if path is None or e["path"].startswith(path)]
            return copy.deepcopy(entries)

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._bytes = 0
            return count


def _file_summary(f: UploadedFile) -> dict[str, Any]:
    return {
        "field": f.field,
        "filename": f.filename,
        "content_type": f.content_type,
        "size": len(f.data),
        "sha256": hashlib.sha256(f.data).hexdigest(),
    }
