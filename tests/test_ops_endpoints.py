"""/healthz, /readyz and /metrics: what a load balancer and Prometheus read."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import pytest
from django.test import Client

from config.celery import app
from generations.models import Generation
from tests.live import free_port, point_app_at, restore_app
from tests.upstreams import create, run_to_end, sim_fixture  # noqa: F401  (fixture)

DEV = "black-forest-labs/flux.1-dev"


def test_healthz_answers_any_host_without_touching_anything(client: Client) -> None:
    # No django_db mark: any database access here would raise.
    response = client.get("/healthz", HTTP_HOST="10.0.3.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_every_dependency_answers(client: Client) -> None:
    response = client.get("/readyz", HTTP_HOST="web-2.internal")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "failed": []}


@pytest.mark.django_db
def test_readyz_names_what_failed_with_503(client: Client, settings: Any) -> None:
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}
    }
    saved = point_app_at(app, dead, app.conf.task_default_queue)
    try:
        response = client.get("/readyz", HTTP_HOST="anything")
    finally:
        restore_app(app, saved)
    assert response.status_code == 503
    # The parts only: the why (addresses, ports, user names) is in the log, not the answer.
    assert response.json() == {"status": "unavailable", "failed": ["broker", "cache"]}
    assert "127.0.0.1" not in response.content.decode()


def test_probes_skip_the_https_redirect(client: Client, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.0.0.1").status_code == 200
    assert client.get("/accounts/login/").status_code == 301


def test_other_paths_still_refuse_an_unknown_host(client: Client) -> None:
    assert client.get("/accounts/login/", HTTP_HOST="evil.example").status_code == 400


@pytest.mark.django_db
def test_metrics_need_the_bearer_token_when_one_is_set(client: Client, settings: Any) -> None:
    settings.DARKROOM_METRICS_TOKEN = "s3cret-scrape"
    outside = {"REMOTE_ADDR": "203.0.113.9"}  # not a private network: the token decides
    assert client.get("/metrics", **outside).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **outside).status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape", **outside)
    assert ok.status_code == 200
    assert b"darkroom_jobs_queued" in ok.content


@pytest.mark.django_db
def test_metrics_count_generations_images_upstream_calls_and_jobs(
    client: Client, sim: Any, user: Any, enqueued: list, django_capture_on_commit_callbacks: Any
) -> None:
    before = _scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        done = run_to_end(create(user, DEV, n=2, size="256x256"), channel="modelverse")
    create(user, DEV, n=1)  # stays queued: no worker here
    assert done.status == Generation.Status.SUCCEEDED
    after = _scrape(client)
    finished = f'darkroom_generations_total{{model="{DEV}",source="portal",status="succeeded"}}'
    assert after[finished] - before.get(finished, 0) == 1
    images = f'darkroom_images_produced_total{{model="{DEV}"}}'
    assert after[images] - before.get(images, 0) == 2
    upstream = 'darkroom_upstream_request_duration_seconds_count{channel="modelverse",outcome="ok"}'
    assert after[upstream] > before.get(upstream, 0)
    assert after["darkroom_jobs_queued"] == 1
    assert after["darkroom_jobs_in_flight"] == 0


@pytest.mark.django_db
def test_metrics_count_quota_refusals(client: Client, user: Any, enqueued: list) -> None:
    from accounts.quota import quota_set_limit

    quota_set_limit(user=user, model=DEV, limit=1)
    before = _scrape(client)
    response = _login_and_generate(client, user, n=2)
    assert response.status_code == 400  # the form says why; nothing is queued
    assert enqueued == []
    key = f'darkroom_quota_refusals_total{{model="{DEV}"}}'
    assert _scrape(client)[key] - before.get(key, 0) == 1


@pytest.mark.django_db
def test_metrics_time_requests_by_view(client: Client, user: Any) -> None:
    client.force_login(user)
    client.get("/history/")
    key = 'darkroom_http_request_duration_seconds_count{method="GET",status="2xx",view="gallery"}'
    assert _scrape(client)[key] >= 1


def _login_and_generate(client: Client, user: Any, *, n: int) -> Any:
    client.force_login(user)
    return client.post("/", {"model": DEV, "prompt": "a fox", "n": n, "size": "1024x1024"})


def _scrape(client: Client) -> dict[str, float]:
    text = client.get("/metrics").content.decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _closed_port() -> int:
    port = free_port()
    with pytest.raises(OSError):  # noqa: PT011
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    return port


def test_metrics_sum_every_process_sharing_a_multiprocess_dir(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.ops import metrics

    code = (
        "import django; django.setup(); from common.ops import metrics; "
        "metrics.IMAGES.labels(model='m').inc(3)"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env.pop("DARKROOM_TEST_DB_NAME", None)
    for _ in range(2):  # two worker processes on this host
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = generate(metrics.process_registry())
    assert 'darkroom_images_produced_total{model="m"} 6.0' in text


def generate(registry: Any) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


@pytest.mark.django_db
def test_metrics_count_webhook_delivery_outcomes(client: Client, user: Any) -> None:
    from types import SimpleNamespace

    from django.utils import timezone

    from config.ops.tasks import WEBHOOK_TASK, task_done
    from generations.models import Webhook

    job = Generation.objects.create(user=user, model=DEV, source="api", status="succeeded")
    hook = Webhook.objects.create(generation=job, url="https://h.example/", base_url="https://x/")
    task = SimpleNamespace(name=WEBHOOK_TASK)
    before = _scrape(client)
    task_done(task=task, args=(str(job.pk),), state="RETRY")  # the receiver answered 503
    Webhook.objects.filter(pk=hook.pk).update(delivered_at=timezone.now())
    task_done(task=task, args=(str(job.pk),), state="SUCCESS")
    after = _scrape(client)
    for outcome in ("retry", "delivered"):
        key = f'darkroom_webhook_deliveries_total{{outcome="{outcome}"}}'
        assert after[key] - before.get(key, 0) == 1


@pytest.mark.django_db(transaction=True)
def test_probes_answer_under_asgi_too() -> None:
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    client = AsyncClient(headers={"host": "10.0.0.9:8000"})
    ready = async_to_sync(client.get)("/readyz")
    assert ready.status_code == 200
    assert ready.json()["failed"] == []
    scraped = async_to_sync(client.get)("/metrics")
    assert b"darkroom_jobs_in_flight" in scraped.content
