"""Fault tests' parts: a Redis of their own, a worker and beat on it, and the end-state check.

    def test_it_survives(chaos: Chaos, user): ...

`chaos` starts the simulator, a Redis on a free port (never the shared one), a
worker and a beat process on it, all against the PostgreSQL test database. Tests
kill and restart these processes; the fixture stops whatever is left.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from accounts.quota import quota_status
from generations.models import Generation
from tests.harness import RedisServer, wait_all_finished, wait_for_log, wait_until  # noqa: F401
from tests.live import (
    BIN,
    QUEUE,
    ROOT,
    Simulator,
    Worker,
    _env,
    database_url,
    point_app_at,
    restore_app,
    start_worker,
    stop,
)

APPLICATION_NAME = "darkroom-chaos"


@dataclass
class Chaos:
    simulator: Simulator
    redis: RedisServer
    env: dict[str, str]
    tmp: Path
    worker: Worker
    beat: subprocess.Popen[Any]
    started: list[subprocess.Popen[Any]] = field(default_factory=list)

    def new_worker(self, concurrency: int = 8, name: str | None = None, **env: str) -> Worker:
        """A worker with default settings (lease, retries), as an operator would start;
        `env` overrides some (a smaller pool, a shorter lease)."""
        log = self.tmp / f"worker-{len(self.started)}.log"
        worker = start_worker({**self.env, **env}, log, concurrency=concurrency, name=name)
        self.started.append(worker.proc)
        self.worker = worker
        return worker

    def stop_consuming(self, name: str) -> None:
        """The worker `name@host` takes no new message; it finishes what it runs."""
        _control("cancel_consumer", name)

    def start_consuming(self, name: str) -> None:
        _control("add_consumer", name)

    def kill_worker(self) -> None:
        self.worker.proc.send_signal(signal.SIGKILL)
        self.worker.proc.wait()


def _control(command: str, name: str) -> None:
    # Through the broker, not the database: works while PostgreSQL refuses.
    from config.celery import app

    node = f"{name}@{socket.gethostname()}"
    replies = getattr(app.control, command)(QUEUE, destination=[node], reply=True, timeout=10)
    assert replies, f"{node} did not answer {command}"


@pytest.fixture
def chaos(
    transactional_db: None,
    postgres: None,
    live_simulator: Simulator,
    settings: Any,
    tmp_path: Path,
) -> Iterator[Chaos]:
    from config.celery import app

    redis = RedisServer(tmp_path / "redis.log")
    env = _env(
        {
            # Named, so a fault test can cut the worker's and beat's sessions and no other.
            "DATABASE_URL": f"{database_url()}?application_name={APPLICATION_NAME}",
            "CELERY_BROKER_URL": redis.url,
            "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "DARKROOM_SIMULATOR_URL": live_simulator.url,
            # Beat's relay ticks every few seconds here (15 s by default) to keep runs short.
            "DARKROOM_RELAY_INTERVAL": "3",
            "DARKROOM_SPOOL_DIR": str(tmp_path / "spool"),
            # A call marked sent is sent again only once it cannot be in flight: this
            # plus the lease after it (180 + 60 s by default). 180 s here: well above the
            # 90 s outage plus the pool's reconnect, and a dead worker's call is re-sent
            # within the killed-worker test's wait.
            "DARKROOM_UPSTREAM_TIMEOUT": "120",
        }
    )
    settings.DARKROOM_SIMULATOR_URL = live_simulator.url
    saved = point_app_at(app, redis.url, QUEUE)
    started: list[subprocess.Popen[Any]] = []
    try:
        beat = _start_beat(env, tmp_path)
        started.append(beat)
        worker = start_worker(env, tmp_path / "worker.log", concurrency=8)
        started.append(worker.proc)
        yield Chaos(live_simulator, redis, env, tmp_path, worker, beat, started)
    finally:
        for proc in started:
            stop(proc)
        if redis.proc is not None:
            stop(redis.proc)
        restore_app(app, saved)
    assert _our_children(but=live_simulator.proc.pid) == [], "a process outlived the test"


def _start_beat(env: dict[str, str], tmp: Path) -> subprocess.Popen[Any]:
    log = tmp / "beat.log"
    command = [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO"]
    command += ["--schedule", str(tmp / "beat-schedule")]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env
    )
    try:
        wait_for_log(proc, log, "Starting...")
    except RuntimeError:
        stop(proc)
        raise
    return proc


def _our_children(*, but: int) -> list[str]:
    """Live processes this test process started (zombies reaped), by command line."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and stat.parent.name != str(but):
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
            alive.append(cmdline.decode(errors="replace"))
    return alive


def upstream_calls(simulator: Simulator, tag: str) -> int:
    """Submits (not polls, not downloads) the simulator received for the job tagged `tag`."""
    return sum(
        1
        for r in simulator.requests()
        if r["method"] == "POST" and tag in str(r.get("json")) and "/_sim/" not in r["path"]
    )


def assert_settled(user: Any, jobs: dict[str, Generation], simulator: Simulator) -> None:
    """Every job ended once, quota matches what is stored, every upstream call is accounted for."""
    used: dict[str, int] = {}
    for tag, job in jobs.items():
        job.refresh_from_db()
        stored = job.images.count()
        assert job.status == Generation.Status.SUCCEEDED, (tag, job.error_code, job.attempts)
        assert stored == job.n, (tag, stored)
        used[job.model] = used.get(job.model, 0) + stored
        told = [a for a in job.attempts if a["phase"] in ("submit", "resume")]
        sent = [a for a in told if a["code"] != "channel_cannot_serve"]
        assert upstream_calls(simulator, tag) == len(sent), (tag, job.attempts)
    for model, images in used.items():
        status = quota_status(user=user, model=model)
        assert (status.used, status.reserved) == (images, 0), model
