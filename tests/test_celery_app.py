"""The worker's Celery app: one disabled result backend for all its threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from celery.app import backends as celery_backends
from celery.backends.base import DisabledBackend

from config.celery import DarkroomCelery, app


def backends_seen_by_threads(celery: DarkroomCelery, threads: int = 8) -> list[Any]:
    seen: list[Any] = []
    lock = threading.Lock()

    def look() -> None:
        backend = celery.backend
        with lock:
            seen.append(backend)

    workers = [threading.Thread(target=look) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return seen


def test_threads_share_one_disabled_backend_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    celery = DarkroomCelery("shared-backend-test")
    lookups = 0
    by_url = celery_backends.by_url

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal lookups
        lookups += 1
        return by_url(*args, **kwargs)

    monkeypatch.setattr(celery_backends, "by_url", counting)

    seen = backends_seen_by_threads(celery)

    assert isinstance(seen[0], DisabledBackend)
    assert all(backend is seen[0] for backend in seen)
    assert lookups == 1


def test_a_real_result_backend_stays_one_per_thread() -> None:
    celery = DarkroomCelery("per-thread-backend-test", backend="cache+memory://")

    seen = backends_seen_by_threads(celery, threads=3)

    assert len({id(backend) for backend in seen}) == 3


def test_darkroom_keeps_no_task_results() -> None:
    assert isinstance(app.backend, DisabledBackend)


def test_the_filesystem_broker_keeps_its_exchange_table_under_var_broker(
    tmp_path: Any,
) -> None:
    """kombu writes `control/<exchange>.exchange` wherever the process started unless
    told where: the embedded broker keeps it under var/broker/ with its queue."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    code = (
        "import django; django.setup(); "
        "from celery import current_app; "
        "from generations.publishing import RUN_TASK; "
        "current_app.tasks[RUN_TASK].apply_async(('00000000-0000-0000-0000-000000000000',)); "
        "from django.conf import settings; "
        "print(settings.CELERY_BROKER_TRANSPORT_OPTIONS['control_folder'])"
    )
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "filesystem://",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(root),
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    folder = Path(done.stdout.strip())
    assert folder == root / "var" / "broker" / "control"
    assert list(folder.glob("*.exchange"))
    assert not (tmp_path / "control").exists()
