"""Asynchronous jobs for the create-then-poll formats (Replicate, BFL).

A job is accepted at once and finishes `run_seconds` later by the clock, not by
being polled: whoever polls after that sees it done. Its result images are drawn
on the first poll that sees it done, but their links count their life from the
moment the job finished, as a real upstream's signed URLs do, so a client that
polls late gets links with little life left (or none).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from simulator import images

MAX_JOBS = 50_000


@dataclass
class Job:
    id: str
    model: str
    input: dict[str, Any]
    prompt: str
    seed: int
    width: int
    height: int
    count: int = 1
    reference: images.DecodedImage | None = None
    run_seconds: float = 1.0
    fate: str | None = None  # None = succeeds; "moderation", "task_error", "task_not_found"
    expire_links: bool = False
    base_url: str = ""
    created: float = field(default_factory=time.monotonic)
    created_wall: float = field(default_factory=time.time)
    outputs: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def finishes_at(self) -> float:
        return self.created + self.run_seconds

    def progress(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        if self.run_seconds <= 0:
            return 1.0
        return max(0.0, min(1.0, (now - self.created) / self.run_seconds))

    def done(self, now: float | None = None) -> bool:
        return self.progress(now) >= 1.0

    def render(self, index: int) -> bytes:
        return images.render_png(
            prompt=self.prompt,
            seed=self.seed,
            width=self.width,
            height=self.height,
            index=index,
            reference=self.reference,
        )


class JobStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def add(self, job: Job) -> Job:
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                self._jobs.popitem(last=False)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()


def new_id(length: int = 26) -> str:
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"  # Replicate-style lowercase base32
    return "".join(secrets.choice(alphabet) for _ in range(length))


def iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall % 1 * 1000):03d}Z"
