import os
import threading
from typing import Any

from celery import Celery
from celery.backends.base import Backend, DisabledBackend
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class DarkroomCelery(Celery):
    """Celery whose disabled result backend is one object, not one per thread.

    Celery builds the result backend once per thread unless the backend says it is
    thread-safe, and every task touches it. Building one looks its name up among the
    installed packages' entry points: ~3 ms of CPU idle, more on a busy worker, so a
    threads-pool worker starting 1,000 calls at once spent 17 % of its Python time
    there (py-spy --gil, P2 at C=1000). Darkroom keeps no task results (state lives in
    the database): the disabled backend holds nothing, so it is marked thread-safe and
    Celery keeps the one for all threads.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._backend_lock = threading.Lock()

    def _get_backend(self) -> Backend:
        with self._backend_lock:  # the first threads wait for one build, not each its own
            if isinstance(built := getattr(self, "_backend_cache", None), DisabledBackend):
                return built
            backend: Backend = super()._get_backend()  # type: ignore[misc]
            if isinstance(backend, DisabledBackend):
                backend.thread_safe = True  # type: ignore[attr-defined]
            return backend


app = DarkroomCelery("darkroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _run_system_checks(**kwargs: Any) -> None:
    """A worker refuses to start on a malformed catalog, as the web server does."""
    from django.core.management import call_command

    call_command("check")


@worker_init.connect
def _raise_open_file_limit(**kwargs: Any) -> None:
    """A socket per upstream call in flight: a worker with 1,000 threads needs more
    descriptors than a 1024 soft limit allows."""
    from common.ops.limits import raise_open_file_limit

    raise_open_file_limit()
