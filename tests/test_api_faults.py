"""The official SDK's retries against the real server: never charged twice.

A call that outlives the wait ceiling, and ten calls whose web process is killed
(SIGKILL) and restarted while they wait: the SDK retries on its own (504, a
dropped connection), each retry joins the job its first try created, and every
job ends once, charged once, with nothing left reserved.

Each test starts (and kills) API servers of its own; the simulator and the worker, which
no test here stops, are the module's (tests/live.py `live_processes`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from accounts.api_keys import api_key_issue
from accounts.quota import quota_set_limit, quota_status
from generations.models import Generation
from tests.harness import wait_until
from tests.live import (
    Simulator,
    Worker,
    free_port,
    sharing_live_simulator,  # noqa: F401  (fixture: one simulator for the module)
    sharing_live_worker,  # noqa: F401  (fixture: one worker for the module)
)
from tests.live_api import ApiServer, server_env, start_api, stop

DEV = "black-forest-labs/flux.1-dev"
pytestmark = [pytest.mark.integration]


@pytest.fixture
def key(user: Any) -> str:
    quota_set_limit(user=user, model=DEV, limit=50)
    return api_key_issue(user=user, name="faults")[1]


@pytest.fixture
def env(live_worker: Worker, live_simulator: Simulator, redis_url: str, settings: Any) -> Any:
    # Every upstream call takes a few seconds: long enough to kill the server mid-wait.
    live_simulator.fault("latency", seconds=4, times=-1)
    return lambda: server_env(settings, live_simulator, redis_url)


@pytest.fixture
def server(env: Any, tmp_path: Path) -> Iterator[list[ApiServer]]:
    """The API server; a test that restarts it replaces the list's one entry."""
    servers = [start_api(env(), tmp_path / "api.log")]
    yield servers
    stop(servers[0].proc)


def settled(user: Any) -> tuple[int, int]:
    status = quota_status(user=user, model=DEV)
    return status.used, status.reserved


def test_the_sdks_retries_after_the_wait_ceiling_join_one_job(
    settings: Any, env: Any, tmp_path: Path, key: str, user: Any
) -> None:
    settings.DARKROOM_API_WAIT_CEILING = 1.5  # the job takes ~4 s: the first tries get 504
    api = start_api(env(), tmp_path / "api.log")
    try:
        client = OpenAI(base_url=api.url, api_key=key, max_retries=8, timeout=60)
        raw = client.images.with_raw_response.generate(model=DEV, prompt="a heron", n=2)
        result = raw.parse()
    finally:
        stop(api.proc)

    generation = Generation.objects.get(user=user)
    assert generation.status == Generation.Status.SUCCEEDED
    assert raw.headers["x-darkroom-job-id"] == str(generation.pk)
    assert raw.retries_taken >= 1  # it did retry, and was not charged for it
    assert len(result.data) == 2
    assert settled(user) == (2, 0)


def test_a_web_process_killed_while_ten_clients_wait_charges_each_job_once(
    server: list[ApiServer], env: Any, tmp_path: Path, key: str, user: Any
) -> None:
    api = server[0]
    results: dict[int, Any] = {}

    def call(i: int) -> None:
        client = OpenAI(base_url=api.url, api_key=key, max_retries=8, timeout=90)
        try:
            results[i] = client.images.generate(model=DEV, prompt=f"a fox, take {i}")
        except Exception as exc:  # the assertion below names it
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    wait_until(
        lambda: Generation.objects.filter(user=user).count() == 10,
        within=60,
        what="10 jobs",
        every=0.1,
    )
    api.proc.kill()  # SIGKILL: no graceful shutdown, every waiting connection drops
    api.proc.wait()
    server[0] = start_api(env(), tmp_path / "api.log", port=api.port)
    for thread in threads:
        thread.join(timeout=180)

    assert not [t for t in threads if t.is_alive()], "a client still waits"
    failures = {i: r for i, r in results.items() if isinstance(r, Exception)}
    assert not failures, failures
    assert all(len(r.data) == 1 and r.data[0].url for r in results.values())
    assert httpx.get(results[0].data[0].url, timeout=30).status_code == 200
    jobs = Generation.objects.filter(user=user)
    assert jobs.count() == 10
    assert set(jobs.values_list("status", flat=True)) == {Generation.Status.SUCCEEDED}
    assert settled(user) == (10, 0)


def test_an_upstream_429_on_every_channel_reaches_the_sdk_as_429_with_retry_after(
    server: list[ApiServer], live_simulator: Simulator, key: str, user: Any
) -> None:
    live_simulator.control("DELETE", "faults").raise_for_status()
    live_simulator.fault("rate_limit", times=-1, seconds=3)
    client = OpenAI(base_url=server[0].url, api_key=key, max_retries=0, timeout=60)

    with pytest.raises(openai.RateLimitError) as raised:
        client.images.generate(model=DEV, prompt="a heron")

    headers = raised.value.response.headers
    assert (headers["Retry-After"], headers["x-should-retry"]) == ("3", "true")
    assert raised.value.code == "upstream_rate_limited"
    generation = Generation.objects.get(user=user)
    assert headers["x-darkroom-job-id"] == str(generation.pk)
    assert settled(user) == (0, 0)  # refunded: the SDK's own retry is a fresh, fair try


def test_a_call_while_the_broker_is_down_reserves_once_however_often_the_sdk_retries(
    transactional_db: None,
    live_simulator: Simulator,
    settings: Any,
    tmp_path: Path,
    key: str,
    user: Any,
) -> None:
    settings.DARKROOM_API_WAIT_CEILING = 1.0
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"  # the broker is down
    api = start_api(server_env(settings, live_simulator, nothing_there), tmp_path / "api.log")
    try:
        client = OpenAI(base_url=api.url, api_key=key, max_retries=2, timeout=60)
        with pytest.raises(openai.APIStatusError) as raised:
            client.images.generate(model=DEV, prompt="a heron", n=2)
    finally:
        stop(api.proc)

    generation = Generation.objects.get(user=user)  # one job for the three tries
    assert raised.value.status_code == 504
    assert raised.value.response.request.headers["x-stainless-retry-count"] == "2"  # 3 tries
    assert raised.value.response.headers["x-darkroom-job-id"] == str(generation.pk)
    assert generation.status == Generation.Status.QUEUED  # committed: the relay queues it
    assert settled(user) == (0, 2)
    assert "committed but not published" in api.output()
