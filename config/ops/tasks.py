"""Celery side: carry the request id to the worker, bind the job, count webhook outcomes."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready

from common.ops import context, metrics

log = logging.getLogger(__name__)
HEADER = "darkroom_request_id"
GENERATION_TASKS = {"generations.tasks.run_generation"}
WEBHOOK_TASK = "generations.api.tasks.deliver_webhook"


@before_task_publish.connect(dispatch_uid="ops-publish-request-id")
def add_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = context.get("request_id")
    if headers is not None and request_id and HEADER not in headers:
        headers[HEADER] = request_id


def _request_id(task: Any) -> str:
    # Protocol 2 merges custom message headers into the task's request context.
    value = getattr(task.request, HEADER, None)
    if not value and isinstance(getattr(task.request, "headers", None), dict):
        value = task.request.headers.get(HEADER)
    return str(value or "")


@task_prerun.connect(dispatch_uid="ops-bind-task")
def bind_task(task: Any = None, args: Any = None, **kwargs: Any) -> None:
    context.clear()
    context.bind(request_id=_request_id(task))
    if task is not None and task.name in GENERATION_TASKS and args:
        # The job's person, model and channel are bound by the step once it has read
        # the row (generations.dispatch): reading them here cost a query per step.
        context.bind(job_id=args[0])


@task_postrun.connect(dispatch_uid="ops-task-done")
def task_done(task: Any = None, args: Any = None, state: str | None = None, **kwargs: Any) -> None:
    if task is not None and task.name == WEBHOOK_TASK and args:
        metrics.WEBHOOKS.labels(outcome=_webhook_outcome(args[0], state)).inc()
    context.clear()


def _webhook_outcome(generation_id: Any, state: str | None) -> str:
    from generations.models import Webhook

    if Webhook.objects.filter(generation_id=generation_id, delivered_at__isnull=False).exists():
        return "delivered"
    return "retry" if state == "RETRY" else "failed"


@worker_ready.connect(dispatch_uid="ops-worker-exporter")
def start_exporter(**kwargs: Any) -> None:
    """A worker on its own host serves its counters on DARKROOM_WORKER_METRICS_PORT."""
    port = os.environ.get("DARKROOM_WORKER_METRICS_PORT", "")
    if not port:
        return
    from prometheus_client import start_http_server

    start_http_server(int(port), registry=metrics.process_registry())
    log.info("worker metrics on :%s/metrics", port)
