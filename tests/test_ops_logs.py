"""Structured logs: one JSON object per line, carrying who and which job, web and worker."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from accounts.api_keys import api_key_issue
from common.ops import context
from common.ops.logs import logging_config
from config.ops.tasks import add_request_id, bind_task, task_done
from generations.dispatch import generation_run
from generations.models import Generation

DEV = "black-forest-labs/flux.1-dev"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The project's JSON logging config, writing to a buffer instead of stderr."""
    config = logging_config(fmt="json", level="INFO")
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    logging.config.dictConfig(config)
    yield stream
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_one_json_object_with_the_bound_context(json_lines: io.StringIO) -> None:
    with context.scope(request_id="req_1", job_id="j-1", user_id=7, model=DEV, channel="bfl"):
        logging.getLogger("darkroom.test").warning("upstream said %s\nsecond line", "no")
    (record,) = _records(json_lines)
    assert record["message"] == "upstream said no\nsecond line"
    assert record["level"] == "WARNING"
    assert record["logger"] == "darkroom.test"
    assert {k: record[k] for k in context.FIELDS} == {
        "request_id": "req_1",
        "job_id": "j-1",
        "user_id": "7",
        "model": DEV,
        "channel": "bfl",
    }


@pytest.mark.django_db(transaction=True)  # the async API reads the key on another connection
def test_an_api_request_keeps_the_callers_request_id_and_logs_the_job_under_it(
    client: Client, user: Any, enqueued: list, json_lines: io.StringIO
) -> None:
    key = api_key_issue(user=user, name="logs")[1]
    response = client.post(
        "/v1/images/generations",
        {"model": DEV, "prompt": "a fox", "n": 1},
        content_type="application/json",
        headers={
            "Authorization": f"Bearer {key}",
            "x-request-id": "trace-4711",
            "Prefer": "respond-async",
        },
    )
    assert response.status_code == 202, response.content
    assert response["x-request-id"] == "trace-4711"
    job = Generation.objects.get()
    created = [r for r in _records(json_lines) if r["logger"] == "darkroom.jobs"]
    assert created
    assert created[0]["request_id"] == "trace-4711"
    assert created[0]["job_id"] == str(job.pk)
    assert created[0]["user_id"] == str(user.pk)
    assert created[0]["model"] == DEV


@pytest.mark.django_db(transaction=True)
def test_a_submission_refused_its_quota_logs_no_job(
    client: Client, user: Any, enqueued: list, json_lines: io.StringIO
) -> None:
    from accounts.quota import quota_set_limit

    quota_set_limit(user=user, model=DEV, limit=0)
    key = api_key_issue(user=user, name="logs")[1]
    response = client.post(
        "/v1/images/generations",
        {"model": DEV, "prompt": "a fox", "n": 1},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", "Prefer": "respond-async"},
    )
    assert response.status_code == 429, response.content
    assert not Generation.objects.exists()
    records = _records(json_lines)
    assert not [r for r in records if r["logger"] == "darkroom.jobs"]
    assert not [r for r in records if r.get("job_id")]


@pytest.mark.django_db
def test_a_request_without_an_id_gets_one_and_a_malformed_one_is_replaced(
    client: Client, user: Any
) -> None:
    client.force_login(user)
    fresh = client.get("/history/")["x-request-id"]
    assert fresh.startswith("req_")
    assert len(fresh) > 20
    bad = client.get("/history/", headers={"x-request-id": "a b\nInjected: 1"})["x-request-id"]
    assert bad.startswith("req_")
    assert "\n" not in bad


@pytest.mark.django_db
def test_the_request_id_travels_to_the_worker_in_the_task_headers(
    user: Any, enqueued: list, json_lines: io.StringIO
) -> None:
    job = Generation.objects.create(user=user, model=DEV, prompt="p", channel="modelverse")
    headers: dict[str, Any] = {}
    with context.scope(request_id="req_web_1"):
        add_request_id(headers=headers)
    context.clear()  # the worker: another process, nothing bound
    task = SimpleNamespace(
        name="generations.tasks.run_generation",
        request=SimpleNamespace(**headers, headers=None),
    )
    bind_task(task=task, args=(str(job.pk),))
    generation_run(generation_id=job.pk)  # no upstream serves it here: it fails, and says so
    task_done(task=task, args=(str(job.pk),), state="SUCCESS")
    (record,) = [r for r in _records(json_lines) if r["logger"] == "generations.services"]
    assert "failed" in record["message"]
    assert record["request_id"] == "req_web_1"
    assert record["job_id"] == str(job.pk)
    assert record["user_id"] == str(user.pk)
    assert record["model"] == DEV
    assert record["channel"]  # the row's, then each channel the step tries (registry)
    assert context.get("request_id") == ""  # nothing leaks into the thread's next task


def test_plain_text_stays_the_default(settings: Any) -> None:
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "plain"
