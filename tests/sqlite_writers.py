"""Run as a script by tests/test_sqlite_concurrency.py, against a fresh SQLite file.

Twelve threads submit a job each at the same moment (as twelve API requests would),
while twelve more store each job's result (as the worker does). Prints, as JSON,
the errors raised and the end state. Its own process: the embedded settings
(DATABASE_URL=sqlite:///...) are what is being tested, not pytest's database.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from typing import Any

THREADS = 12


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("writer", "w@example.com", "pw-writer-123")
    print(json.dumps(_run(user)))  # noqa: T201


def _run(user: Any) -> dict[str, Any]:
    from django.db import connection

    from accounts.quota import quota_set_limit, quota_status
    from generations.models import Generation

    model = "black-forest-labs/flux.1-dev"
    quota_set_limit(user=user, model=model, limit=100)
    errors: list[str] = []
    created: queue.Queue[Any] = queue.Queue()
    start = threading.Barrier(THREADS * 2)

    def guarded(work: Any) -> Any:
        def run() -> None:
            try:
                start.wait()
                work()
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                connection.close()

        return run

    threads = [
        threading.Thread(target=guarded(lambda: _submit(user, model, created)))
        for _ in range(THREADS)
    ]
    threads += [
        threading.Thread(target=guarded(lambda: _store(created.get(timeout=60))))
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    status = quota_status(user=user, model=model)
    done = Generation.objects.filter(status=Generation.Status.SUCCEEDED).count()
    return {"errors": errors, "succeeded": done, "used": status.used, "reserved": status.reserved}


def _submit(user: Any, model: str, created: queue.Queue[Any]) -> None:
    from generations.services import generation_create

    created.put(generation_create(user=user, model=model, prompt="a fox", params={"n": 1}))


def _store(generation: Any) -> None:
    from generations.services import generation_succeed
    from tests.images import png_bytes

    generation_succeed(generation=generation, images=[png_bytes(64, 64)], channel="modelverse")


if __name__ == "__main__":
    main()
