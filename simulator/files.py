"""Expiring result links: `FileStore` keeps result images behind unguessable tokens.

`Simulator.publish` puts a result here and hands out `/files/<token>.<ext>`;
the `/files/` route reads it back (or learns that the link expired).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# A result's bytes, or how to draw them on its first download: a caller that never
# downloads (a load wave sent straight to the simulator) costs the simulator no drawing.
Content = bytes | Callable[[], bytes]


@dataclass
class _File:
    data: Content | None
    content_type: str
    expires_at: float  # time.monotonic()


class FileStore:
    """Result images behind unguessable tokens, each with its own expiry.

    Expired entries drop their bytes but keep a tombstone (bounded), so an
    expired link answers "expired" rather than "never existed".
    """

    MAX_TOMBSTONES = 100_000
    PURGE_EVERY = 1.0  # seconds; a purge walks every entry

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: OrderedDict[str, _File] = OrderedDict()
        self._purged_at = 0.0

    def put(self, data: Content, *, ttl: float, content_type: str = "image/png") -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._purge()
            self._files[token] = _File(data, content_type, time.monotonic() + ttl)
        return token

    def get(self, token: str) -> tuple[str, bytes, str]:
        """("ok", data, content type) | ("expired", b"", "") | ("missing", b"", "")."""
        with self._lock:
            entry = self._files.get(token)
            if entry is None:
                return "missing", b"", ""
            if entry.data is None or time.monotonic() >= entry.expires_at:
                return "expired", b"", ""
            data, content_type = entry.data, entry.content_type
        if callable(data):  # drawn outside the lock, then kept for the next download
            drawn = data()
            with self._lock:
                if entry.data is data:
                    entry.data = drawn
            data = drawn
        return "ok", data, content_type

    def clear(self) -> None:
        with self._lock:
            self._files.clear()

    def _purge(self) -> None:
        now = time.monotonic()
        if now - self._purged_at < self.PURGE_EVERY:
            return
        self._purged_at = now
        dead = []
        for token, entry in self._files.items():
            if entry.expires_at <= now:
                entry.data = None
                dead.append(token)
        for token in dead[: max(0, len(dead) - self.MAX_TOMBSTONES)]:  # oldest first
            del self._files[token]
