"""Per-key rate limit on /v1 image requests: 429 rate_limit_exceeded, Retry-After, retryable."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from asgiref.sync import SyncToAsync
from django.db import connections

from accounts.api_keys import api_key_issue
from generations.api.errors import RateLimited
from generations.api.ratelimit import rate_limit_hit
from generations.models import Generation
from generations.sync import run_sync
from tests.live import ROOT
from tests.test_api_requests import KeyClient

DEV = "black-forest-labs/flux.1-dev"
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_it_answers_429_with_retry_after_past_the_limit_for_that_key_only(
    user: Any, enqueued: list, settings: Any
) -> None:
    settings.DARKROOM_API_RATE_LIMIT = 2
    first, second = [
        KeyClient((await run_sync(api_key_issue, user=user, name=n))[1])
        for n in ("first", "second")
    ]
    body = {"model": DEV, "prompt": "x"}

    answers = [
        await first.post(
            "/v1/images/generations", body, content_type="application/json", headers=ASYNC
        )
        for _ in range(3)
    ]
    other_key = await second.post(
        "/v1/images/generations", body, content_type="application/json", headers=ASYNC
    )

    assert [a.status_code for a in answers] == [202, 202, 429]
    limited = answers[2]
    assert limited.json() == {
        "error": {
            "message": "Rate limit reached for this API key: 2 image requests per minute. "
            f"Try again in {limited['Retry-After']}s.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["x-should-retry"] == "true"  # the SDK backs off and tries again
    assert other_key.status_code == 202
    assert await Generation.objects.acount() == 3
    assert len(enqueued) == 3


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_it_limits_nothing_when_set_to_zero(user: Any, enqueued: list, settings: Any) -> None:
    settings.DARKROOM_API_RATE_LIMIT = 0
    client = KeyClient((await run_sync(api_key_issue, user=user, name="k"))[1])
    statuses = [
        (
            await client.post(
                "/v1/images/generations",
                {"model": DEV, "prompt": "x"},
                content_type="application/json",
                headers=ASYNC,
            )
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [202] * 5


def test_it_counts_in_clock_minutes_and_says_when_the_next_one_starts(settings: Any) -> None:
    settings.DARKROOM_API_RATE_LIMIT = 1
    key = uuid.uuid4().hex
    rate_limit_hit(key, now=6000.0)
    with pytest.raises(RateLimited) as limited:
        rate_limit_hit(key, now=6045.5)
    assert limited.value.retry_after == 15
    rate_limit_hit(key, now=6060.0)  # a new minute, a new count


def test_it_lets_exactly_the_limit_through_concurrently_on_redis(
    redis_url: str, settings: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "test-rate",
        }
    }
    settings.DARKROOM_API_RATE_LIMIT = 5
    key = uuid.uuid4().hex

    def hit(_: int) -> bool:
        try:
            rate_limit_hit(key, now=6000.0)
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        passed = list(pool.map(hit, range(40)))

    assert passed.count(True) == 5
    # Shared by every web process: a plain counter in Redis, one minute's worth.
    stored = redis.Redis.from_url(redis_url).get(f"test-rate:1:api-rate:{key}:100")
    assert stored == b"40"


@pytest.mark.parametrize(
    ("broker", "backend"),
    [
        ("redis://127.0.0.1:6379/0", "django.core.cache.backends.redis.RedisCache"),
        ("filesystem://", "django.core.cache.backends.locmem.LocMemCache"),
    ],
)
def test_it_shares_the_counters_through_redis_when_the_broker_is_redis(
    broker: str, backend: str
) -> None:
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker,
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == backend
