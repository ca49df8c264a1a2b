"""Spend end to end with the official openai SDK against a real server, worker and
simulator: priced channels, a retry and a fail-over, the report and the costs endpoint
agreeing to the last digit, a blocked prompt and a spent hard budget refused as the
SDK's own errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from django.core.management import call_command
from django.utils import timezone
from openai import OpenAI

from accounts.api_keys import api_key_issue
from generations.models import Generation
from generations.reports.spend import spend_lines
from tests.live import Simulator, Worker
from tests.live_api import ApiServer, running_api

DEV = "black-forest-labs/flux.1-dev"
pytestmark = [pytest.mark.integration]


@pytest.fixture(autouse=True)
def _quick_timeouts(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the worker starts: a hung call times out in seconds, and a job has room
    for a second round of calls (a retry) after every channel timed out in the first."""
    settings.DARKROOM_UPSTREAM_TIMEOUT = 3.0
    monkeypatch.setenv("DARKROOM_MAX_UPSTREAM_ATTEMPTS", "6")


@pytest.fixture
def live_api(
    live_worker: Worker, live_simulator: Simulator, redis_url: str, settings: Any, tmp_path: Any
) -> Iterator[ApiServer]:
    with running_api(settings, live_simulator, redis_url, tmp_path / "api.log") as server:
        yield server


def test_spend_through_the_sdk(
    live_api: ApiServer, live_simulator: Simulator, django_user_model: Any
) -> None:
    staff = django_user_model.objects.create_user("fin", "f@example.com", "pw", is_staff=True)
    key = api_key_issue(user=staff, name="sdk")[1]
    client = OpenAI(base_url=live_api.url, api_key=key, timeout=120, max_retries=0)
    call_command("price", "set", "--channel", "modelverse", "--model", DEV, "--per-image", "0.011")
    call_command(
        "price", "set", "--channel", "reseller-dalle", "--model", DEV, "--per-image", "0.007"
    )

    # Every channel's first call hangs past the timeout: each went out, so each priced
    # one is paid; the job is retried and the second round's first call delivers.
    live_simulator.fault("hang", times=4, seconds=8)
    client.images.generate(model=DEV, prompt="a heron", size="256x256")
    [retried] = Generation.objects.all()
    assert retried.retries == 1
    paid = [(a["channel"], Decimal(a["cost"])) for a in retried.attempts if a.get("price")]
    assert paid == [
        ("modelverse", Decimal("0.011")),
        ("reseller-dalle", Decimal("0.007")),
        ("modelverse", Decimal("0.011")),
    ]
    live_simulator.fault("server_error", times=1)  # refused: costs nothing, fails over
    client.images.generate(model=DEV, prompt="a fox", n=2, size="256x256")
    client.images.generate(model=DEV, prompt="an owl", size="256x256")
    jobs = list(Generation.objects.all())
    assert sorted(j.cost for j in jobs) == [
        Decimal("0.011"),
        Decimal("0.014"),
        Decimal("0.029"),
    ]
    attempts = [a for j in jobs for a in j.attempts]

    now = timezone.now()
    lines = spend_lines(now - timedelta(hours=1), now + timedelta(hours=1))
    assert lines.total == sum(Decimal(a["cost"]) for a in attempts) == Decimal("0.054")
    assert lines.undelivered == Decimal("0.018")  # the retried job's first round
    assert lines.refused == 1
    costs = httpx.get(
        f"{live_api.url}/organization/costs",
        params={"start_time": int(now.timestamp()) - 86400, "limit": 3},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    values = [
        Decimal(json.dumps(r["amount"]["value"]))
        for b in costs.json()["data"]
        for r in b["results"]
    ]
    assert sum(values) == lines.total

    calls = len(live_simulator.requests())
    call_command("policy", "block", "gore")
    with pytest.raises(openai.BadRequestError) as blocked:
        client.images.generate(model=DEV, prompt="G\u200bORE", size="256x256")
    assert blocked.value.code == "moderation_blocked"

    # Room for less than one image at the dearest channel (0.011): refused whole.
    call_command("budget", "set", "--instance", "--monthly", "0.010", "--hard")
    with pytest.raises(openai.RateLimitError) as exhausted:
        client.images.generate(model=DEV, prompt="a hare", size="256x256")
    assert exhausted.value.code == "budget_exhausted"
    assert exhausted.value.body["type"] == "insufficient_quota"  # type: ignore[index]
    assert len(live_simulator.requests()) == calls
    assert Generation.objects.count() == 3
