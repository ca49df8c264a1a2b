"""SIGTERM on a web process: an API call waiting for its job answers, naming the job."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts.api_keys import api_key_issue
from generations.models import Generation
from tests.harness import wait_until
from tests.live import BIN, ROOT, _env, database_url, free_port, wait_for_port
from tests.servers import RedisServer

pytestmark = pytest.mark.integration
DEV = "black-forest-labs/flux.1-dev"


def test_a_waiting_api_call_gets_its_job_id_when_the_web_process_stops(
    transactional_db: None, own_redis: RedisServer, user: Any, tmp_path: Path
) -> None:
    import subprocess

    port = free_port()
    env = _env(
        {
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": own_redis.url,  # no worker on it: the job stays queued
            "ALLOWED_HOSTS": "127.0.0.1",
            "DARKROOM_API_WAIT_CEILING": "300",
        }
    )
    web = subprocess.Popen(
        [str(BIN / "uvicorn"), "config.asgi:application", "--port", str(port),
         "--timeout-graceful-shutdown", "60"],
        cwd=ROOT, env=env, stdout=(tmp_path / "web.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_port(port, web, timeout=60)
        key = api_key_issue(user=user, name="drain")[1]
        answer: dict[str, Any] = {}

        def call() -> None:
            answer["response"] = httpx.post(
                f"http://127.0.0.1:{port}/v1/images/generations",
                json={"model": DEV, "prompt": "a slow fox", "n": 1},
                headers={"Authorization": f"Bearer {key}"},
                timeout=120,
            )

        client = threading.Thread(target=call)
        client.start()
        job = wait_until(Generation.objects.first, within=30, what="the job committed")
        time.sleep(1.0)  # the request is now waiting on its job
        web.send_signal(signal.SIGTERM)
        client.join(timeout=90)
        response = answer["response"]
        assert response.status_code == 504
        error = response.json()["error"]
        assert error["code"] == "wait_timeout"
        assert f"GET /v1/images/jobs/{job.pk}" in error["message"]
        # uvicorn re-raises the SIGTERM to the default handler once it has shut down.
        assert web.wait(timeout=60) in (0, -signal.SIGTERM)
        job.refresh_from_db()
        assert job.status == Generation.Status.QUEUED  # it goes on: the worker will run it
    finally:
        if web.poll() is None:
            web.kill()
            web.wait()
