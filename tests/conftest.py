from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from tests.browser import browser_page, chromium, module_chromium  # noqa: F401  (fixtures)
from tests.chaos import chaos  # noqa: F401  (fixture)
from tests.live import live_simulator, live_worker, live_worker_concurrency  # noqa: F401  (fixtures)
from tests.needs import missing
from tests.oidc_provider import oidc_provider_factory  # noqa: F401  (fixture)
from tests.servers import own_redis, s3_server  # noqa: F401  (fixtures)

LIVE_GROUP = "live-processes"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`, keep each file on one xdist worker (like loadfile) but run
    every test that starts real processes (worker, web, beat: the `integration` mark) on a
    single worker, one at a time: two of them at once on two cores miss their deadlines."""
    for item in items:
        live = item.get_closest_marker("integration") is not None
        item.add_marker(pytest.mark.xdist_group(LIVE_GROUP if live else item.nodeid.split("::")[0]))


def _reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(autouse=True)
def _no_language_carried_over() -> Iterator[None]:
    """The test client's requests leave their language active in this thread: end it."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture
def postgres() -> None:
    """Skip (under CI: fail), saying why, unless the suite runs on PostgreSQL."""
    if connection.vendor != "postgresql":
        missing(
            "needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/darkroom "
            "(scripts/test does when 127.0.0.1:5432 answers)"
        )


@pytest.fixture
def redis_url() -> str:
    if not _reachable(6379):
        missing("needs Redis on 127.0.0.1:6379 (start it: see scripts/start-services.sh)")
    # Several checkouts may run their suites at once on one machine: each can pick its own
    # Redis database so their brokers never hand one suite's messages to another's worker.
    return f"redis://127.0.0.1:6379/{os.environ.get('DARKROOM_TEST_REDIS_DB', '0')}"


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw-alice-123")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-123")


@pytest.fixture
def team(django_user_model: Any) -> dict[str, Any]:
    """alice and bob share the group "studio"; carol is in no group."""
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="studio")
    people = {
        name: django_user_model.objects.create_user(name, f"{name}@example.com", "pw-1234567")
        for name in ("alice", "bob", "carol")
    }
    group.user_set.add(people["alice"], people["bob"])
    return people


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Capture what would be sent to Celery instead of sending it."""
    sent: list[str] = []

    def publish(generation_id: Any, **kwargs: Any) -> bool:
        sent.append(str(generation_id))
        return True

    monkeypatch.setattr("generations.publishing.publish", publish)
    return sent


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _fresh_readiness() -> None:
    """/readyz reuses its last round of checks for a few seconds; each test starts anew."""
    from config.ops import health

    health.forget()


@pytest.fixture(autouse=True)
def _no_leases_left_held() -> Iterator[None]:
    """A test that stops mid-step (a simulated kill) leaves its lease in this process's
    held set; the heartbeat thread would go on renewing it into later tests, which may
    have no database access. Emptied after each test, the heartbeat ends on its next beat."""
    yield
    from generations import leases

    with leases._held_lock:
        leases._held.clear()


@pytest.fixture(scope="session", autouse=True)
def _end_stray_db_sessions(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Let the test database be dropped at the end of the run.

    pytest-django's live server answers each browser connection in its own thread
    with its own database connection; a keep-alive thread can outlive the server's
    shutdown, and PostgreSQL then refuses to drop a database with a session on it.
    Runs after the live server stops and before the test database is destroyed.
    """
    yield
    if connection.vendor != "postgresql":
        return
    # When no collected test uses the database, pytest-django creates no test database
    # and the connection still names the real one: leave its sessions alone.
    test_name = connection.creation._get_test_db_name()  # type: ignore[attr-defined]
    if connection.settings_dict["NAME"] != test_name:
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
