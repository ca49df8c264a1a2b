"""Spend through /v1: the refusals' envelopes, and /v1/organization/costs and
/v1/organization/usage/images in OpenAI's shapes, for staff keys only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.core.management import call_command
from django.db import connections
from django.test import AsyncClient
from django.utils import timezone

from accounts.api_keys import api_key_issue
from generations.models import Generation
from simulator.server import SimulatorServer
from tests.test_api_requests import KeyClient
from tests.upstreams import create, run_to_end, sim_fixture  # noqa: F401

DEV = "black-forest-labs/flux.1-dev"
pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


async def client_for(user: Any) -> AsyncClient:
    key = (await sync_to_async(api_key_issue)(user=user, name="t"))[1]
    return KeyClient(key)


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("fin", "f@example.com", "pw-f-123", is_staff=True)


async def test_a_spent_hard_budget_answers_429_budget_exhausted(user: Any, enqueued: list) -> None:
    await sync_to_async(call_command)("budget", "set", "--instance", "--monthly", "0", "--hard")
    response = await (await client_for(user)).post(
        "/v1/images/generations",
        {"model": DEV, "prompt": "a fox"},
        content_type="application/json",
    )
    assert response.status_code == 429
    assert response.json() == {
        "error": {
            "message": "This month's spending budget for Darkroom is used up; ask an "
            "administrator.",
            "type": "insufficient_quota",
            "param": None,
            "code": "budget_exhausted",
        }
    }
    assert not await Generation.objects.aexists()
    assert not enqueued


async def test_a_blocked_prompt_answers_400_moderation_blocked(user: Any, enqueued: list) -> None:
    await sync_to_async(call_command)("policy", "block", "gore")
    response = await (await client_for(user)).post(
        "/v1/images/generations",
        {"model": DEV, "prompt": "\uff27\uff2f\uff32\uff25", "moderation": "low"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "This prompt was refused by this instance's content policy; nothing was "
        "charged.",
        "type": "invalid_request_error",
        "param": "prompt",
        "code": "moderation_blocked",
    }
    assert not await Generation.objects.aexists()
    assert not enqueued


def _spend(user: Any) -> list[Generation]:
    call_command("price", "set", "--channel", "modelverse", "--model", DEV, "--per-image", "0.013")
    return [run_to_end(create(user, DEV, size="512x512")) for _ in range(3)]


async def test_the_costs_endpoint_is_staff_only_and_sums_to_the_attempts(
    sim: SimulatorServer, user: Any, staff: Any, enqueued: list
) -> None:
    jobs = await sync_to_async(_spend)(user)
    start = int(timezone.now().timestamp()) - 2 * 86400
    url = f"/v1/organization/costs?start_time={start}&group_by=line_item&limit=2"

    refused = await (await client_for(user)).get(url)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_permissions"

    staff_client = await client_for(staff)
    first = await staff_client.get(url)
    assert first.status_code == 200
    page = first.json()
    assert page["object"] == "page"
    assert page["has_more"] is True
    assert len(page["data"]) == 2
    second = (await staff_client.get(f"{url}&page={page['next_page']}")).json()
    buckets = page["data"] + second["data"]
    values = [
        Decimal(json.dumps(r["amount"]["value"]))  # the JSON number's own digits
        for b in buckets
        for r in b["results"]
    ]
    assert sum(values) == sum(j.cost for j in jobs) == Decimal("0.039")
    result = next(r for b in buckets for r in b["results"])
    assert result["object"] == "organization.costs.result"
    assert (result["line_item"], result["amount"]["currency"]) == (DEV, "usd")
    assert all(b["end_time"] - b["start_time"] == 86400 for b in buckets)


async def test_the_images_usage_endpoint_groups_by_model_and_user(
    sim: SimulatorServer, user: Any, staff: Any, enqueued: list
) -> None:
    await sync_to_async(_spend)(user)
    start = int(timezone.now().timestamp()) - 86400
    response = await (await client_for(staff)).get(
        f"/v1/organization/usage/images?start_time={start}&group_by=model&group_by=user_id"
    )
    results = [r for b in response.json()["data"] for r in b["results"]]
    assert [(r["model"], r["user_id"], r["images"], r["num_model_requests"]) for r in results] == [
        (DEV, str(user.pk), 3, 3)
    ]
    assert results[0]["object"] == "organization.usage.images.result"


def _spend_by_key_and_group(user: Any) -> str:
    """Two jobs of a member of 'designers' (whose budget they count against): one through
    an API key at 512x512, one from the portal at 256x256. The key's id."""
    from django.contrib.auth.models import Group

    from generations.services import generation_create

    user.groups.add(Group.objects.create(name="designers"))
    call_command("budget", "set", "--group", "designers", "--monthly", "10")
    call_command("price", "set", "--channel", "modelverse", "--model", DEV, "--per-image", "0.013")
    key = api_key_issue(user=user, name="k")[0]
    params = {"size": "512x512"}
    run_to_end(
        generation_create(
            user=user, model=DEV, prompt="a fox", params=params, extra={"api_key": key}
        )
    )
    run_to_end(create(user, DEV, size="256x256"))
    return str(key.pk)


async def test_the_usage_and_costs_endpoints_group_by_size_source_key_and_project(
    sim: SimulatorServer, user: Any, staff: Any, enqueued: list
) -> None:
    key_id = await sync_to_async(_spend_by_key_and_group)(user)
    start = int(timezone.now().timestamp()) - 86400
    client = await client_for(staff)

    usage = await client.get(
        f"/v1/organization/usage/images?start_time={start}"
        "&group_by=size,source,api_key_id,project_id"
    )
    results = [r for b in usage.json()["data"] for r in b["results"]]
    assert [
        (r["size"], r["source"], r["api_key_id"], r["project_id"], r["images"]) for r in results
    ] == [
        ("256x256", "image.generation", None, "designers", 1),
        ("512x512", "image.generation", key_id, "designers", 1),
    ]
    costs = await client.get(f"/v1/organization/costs?start_time={start}&group_by=project_id")
    [result] = [r for b in costs.json()["data"] for r in b["results"]]
    assert (result["project_id"], result["line_item"]) == ("designers", None)
    assert Decimal(json.dumps(result["amount"]["value"])) == Decimal("0.026")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("", "start_time"),
        ("start_time=x", "start_time"),
        ("start_time=0&bucket_width=1h", "bucket_width"),
        ("start_time=0&group_by=person", "group_by"),
        ("start_time=0&limit=500", "limit"),
    ],
)
async def test_the_costs_endpoint_refuses_bad_queries_with_the_envelope(
    staff: Any, query: str, param: str
) -> None:
    response = await (await client_for(staff)).get(f"/v1/organization/costs?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        param,
        "invalid_value",
    )


async def test_the_openapi_document_names_both_organization_routes(user: Any) -> None:
    response = await AsyncClient().get("/v1/openapi.json")
    paths = response.json()["paths"]
    assert "/v1/organization/costs" in paths
    assert "/v1/organization/usage/images" in paths
