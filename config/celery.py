import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("darkroom")
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
