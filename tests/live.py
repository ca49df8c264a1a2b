"""Real processes for integration tests: the simulator and a Celery worker.

The worker is a separate `celery -A config worker` process on Redis, reading and
writing the same PostgreSQL test database as the test (so tests using these
fixtures must use `transactional_db`). Each test session gets its own queue name,
so parallel runs on one Redis never steal each other's tasks.

    def test_it_works(live_worker, user): ...        # worker + simulator
    def test_it_polls(live_simulator): ...            # simulator process alone

Each of those starts its processes for the one test. A module whose tests leave the
processes running as they found them shares one simulator and one worker instead
(`live_processes`, module-scoped): it imports `sharing_live_simulator` and
`sharing_live_worker`, which stand in for `live_simulator` and `live_worker` as
`shared_simulator` and `shared_worker`: those reset the simulator before each test and,
after it, wait until the worker has finished every job the test left. A test that kills
or stops a process keeps processes of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.harness import (  # noqa: F401  (the one harness; tests import these from here too)
    PeakSampler,
    free_port,
    stop,
    wait_all_finished,
    wait_for_log,
    wait_for_port,
    wait_until,
)
from tests.needs import missing

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUEUE = f"darkroom-test-{uuid.uuid4().hex[:8]}"


def database_url() -> str:
    """The URL of the database this test process uses (the test database)."""
    if connection.vendor != "postgresql":
        missing("integration tests with a real worker need PostgreSQL (DATABASE_URL)")
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    host = f"{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}"
    return f"postgres://{user}{password}@{host}/{s['NAME']}"


class Simulator:
    def __init__(self, proc: subprocess.Popen[Any], url: str) -> None:
        self.proc, self.url = proc, url
        self.started_config: dict[str, Any] | None = None  # read by the first reset()

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}/_sim/{path}", timeout=10, **kwargs)

    def fault(self, fault: str, **options: Any) -> None:
        self.control("POST", "faults", json={"fault": fault, **options}).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "requests").json()["requests"])

    def reset(self) -> None:
        """As it started: no faults, no requests recorded, no files, no jobs, and the
        configuration it started with (the first call, before any test, reads it)."""
        if self.started_config is None:
            self.started_config = self.control("GET", "config").raise_for_status().json()
        self.control("POST", "reset").raise_for_status()
        self.control("POST", "config", json=self.started_config).raise_for_status()


@contextmanager
def running_simulator(log: Path) -> Iterator[Simulator]:
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "python"), "manage.py", "simulator", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=_env({}),
    )
    try:
        wait_for_port(port, proc)
        yield Simulator(proc, f"http://127.0.0.1:{port}")
    finally:
        stop(proc)


@pytest.fixture
def live_simulator(tmp_path: Path) -> Iterator[Simulator]:
    with running_simulator(tmp_path / "simulator.log") as simulator:
        yield simulator


class Worker:
    def __init__(self, proc: subprocess.Popen[Any], log: Path) -> None:
        self.proc, self.log = proc, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def live_worker_concurrency() -> int:
    """Threads of the live worker. A test module overrides this fixture to change it
    (tests/test_integration_polling.py runs a 2-thread worker)."""
    return 8


@pytest.fixture
def live_worker(
    transactional_db: None,
    redis_url: str,
    live_simulator: Simulator,
    settings: Any,
    tmp_path: Path,
    live_worker_concurrency: int,
) -> Iterator[Worker]:
    """A real Celery worker on Redis + PostgreSQL, talking to the simulator process."""
    env = worker_env(redis_url, live_simulator, Path(settings.MEDIA_ROOT))
    settings.DARKROOM_SIMULATOR_URL = live_simulator.url
    with publishing_to(redis_url):
        worker = start_worker(env, tmp_path / "worker.log", concurrency=live_worker_concurrency)
        try:
            yield worker
        finally:
            stop(worker.proc)


def worker_env(
    redis_url: str, simulator: Simulator, media_root: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    return _env(
        {
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": redis_url,
            "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
            "MEDIA_ROOT": str(media_root),
            "DARKROOM_SIMULATOR_URL": simulator.url,
            "DARKROOM_TASK_MAX_RETRIES": str(settings.DARKROOM_TASK_MAX_RETRIES),
            "DARKROOM_UPSTREAM_TIMEOUT": str(settings.DARKROOM_UPSTREAM_TIMEOUT),
            **(extra or {}),
        }
    )


@contextmanager
def publishing_to(redis_url: str) -> Iterator[None]:
    """This process's Celery app publishes to `redis_url` and this session's queue."""
    from config.celery import app

    saved = point_app_at(app, redis_url, QUEUE)
    try:
        yield
    finally:
        restore_app(app, saved)


@dataclass
class LiveProcesses:
    """One module's simulator and worker, and the media root they and the tests share."""

    simulator: Simulator
    worker: Worker
    media_root: Path
    redis_url: str
    extra_env: dict[str, str]


@pytest.fixture(scope="module")
def live_processes_env() -> dict[str, str]:
    """More environment for the module's shared processes (a module overrides this)."""
    return {}


@pytest.fixture(scope="module")
def live_processes(
    django_db_setup: None,
    module_redis_url: str,
    live_processes_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveProcesses]:
    """A simulator and a worker for the whole module (see the module's docstring).

    The worker keeps its database connections across tests: flushing the test database
    between transactional tests truncates the tables under them."""
    redis_url = module_redis_url
    logs = tmp_path_factory.mktemp("live")
    media_root = tmp_path_factory.mktemp("media")
    with running_simulator(logs / "simulator.log") as simulator, publishing_to(redis_url):
        env = worker_env(redis_url, simulator, media_root, live_processes_env)
        worker = start_worker(env, logs / "worker.log", concurrency=8)
        try:
            yield LiveProcesses(simulator, worker, media_root, redis_url, live_processes_env)
        finally:
            stop(worker.proc)


@pytest.fixture
def shared_simulator(live_processes: LiveProcesses) -> Simulator:
    """The module's simulator, reset for this test."""
    live_processes.simulator.reset()
    return live_processes.simulator


@pytest.fixture
def shared_worker(
    transactional_db: None,
    live_processes: LiveProcesses,
    shared_simulator: Simulator,
    settings: Any,
) -> Iterator[Worker]:
    """The module's worker; this test's files go to the media root it writes to.

    Once the test is over, it waits until every job the test left is finished, so that
    none is still running when the database is flushed and the next test begins."""
    from generations.models import Generation

    worker = live_processes.worker
    assert worker.proc.poll() is None, f"the module's worker died:\n{worker.output()[-3000:]}"
    settings.MEDIA_ROOT = live_processes.media_root
    settings.DARKROOM_SIMULATOR_URL = shared_simulator.url
    yield worker
    wait_all_finished(list(Generation.objects.values_list("pk", flat=True)), within=60)


@pytest.fixture(name="live_simulator")
def sharing_live_simulator(shared_simulator: Simulator) -> Simulator:
    """Imported by a module: its tests' `live_simulator` is the module's shared one."""
    return shared_simulator


@pytest.fixture(name="live_worker")
def sharing_live_worker(shared_worker: Worker) -> Worker:
    """Imported by a module: its tests' `live_worker` is the module's shared one."""
    return shared_worker


def start_worker(
    env: dict[str, str], log: Path, concurrency: int, name: str | None = None
) -> Worker:
    """`celery -A config worker` on this session's queue, returned once it is ready.

    `name`: its node name (`name@host`), for sending it control commands alone."""
    command = [str(BIN / "celery"), "-A", "config", "worker", "--pool", "threads"]
    command += ["--concurrency", str(concurrency), "-Q", QUEUE]
    command += ["--hostname", f"{name}@%h"] if name else []
    command += ["--without-gossip", "--without-mingle", "--loglevel", "INFO"]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env
    )
    try:
        _wait_ready(proc, log)
    except RuntimeError:
        stop(proc)
        raise
    return Worker(proc, log)


BROKER_KEYS = (
    "broker_url",
    "broker_write_url",
    "broker_read_url",
    "task_default_queue",
    "broker_transport_options",
)


def point_app_at(app: Any, broker_url: str, queue: str) -> dict[str, Any]:
    """Make this process publish to `broker_url` and `queue`; returns what to restore.

    Set under the settings' own names too: with `namespace="CELERY"`, the Django
    setting (CELERY_TASK_DEFAULT_QUEUE...) is read before the plain key, and
    broker_write_url was fixed from CELERY_BROKER_URL when the app was configured.
    """
    saved = {k: app.conf[k] for k in BROKER_KEYS}
    restore_app(
        app,
        {
            "broker_url": broker_url,
            "broker_write_url": broker_url,
            "broker_read_url": broker_url,
            "task_default_queue": queue,
            "broker_transport_options": {"visibility_timeout": 3600},
        },
    )
    return saved


def restore_app(app: Any, values: dict[str, Any]) -> None:
    app.conf.update({**values, **{f"CELERY_{k.upper()}": v for k, v in values.items()}})
    _drop_broker_pool(app)
    for cached in ("queues", "default_queue", "router"):  # built from the old queue name
        app.amqp.__dict__.pop(cached, None)


def _drop_broker_pool(app: Any) -> None:
    """Forget pooled connections to the old broker after changing broker_url.

    What Celery itself does after a fork. Not app.close(): that also deregisters the
    app, and tasks imported afterwards (shared_task) would never register with it;
    not force_close_all(): kombu's global producer pools keep the closed pool.
    """
    app._pool = None
    app.amqp._producer_pool = None


def _wait_ready(proc: subprocess.Popen[Any], log: Path, timeout: float = 60.0) -> None:
    wait_for_log(proc, log, " ready.", timeout)


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_TEST_DB")}
    # The same key as this process: signed URLs and webhook secrets must agree.
    env["SECRET_KEY"] = settings.SECRET_KEY
    env["DEBUG"] = "false"
    env.update(extra)
    return env


def wait_finished(generation: Any, timeout: float = 60.0) -> Any:
    def finished() -> Any:
        generation.refresh_from_db()
        return generation if generation.is_finished else None

    return wait_until(finished, within=timeout, what=f"generation {generation.pk} finished")


def wait_thumbnail(image: Any, timeout: float = 30.0) -> Any:
    """The image once its thumbnail is stored (the worker makes it after the answer)."""

    def stored() -> Any:
        image.refresh_from_db()
        return image if image.thumbnail else None

    return wait_until(stored, within=timeout, what=f"image {image.pk} thumbnailed", every=0.1)
