"""API callers see their quota: `x-darkroom-quota-*` headers on every /v1/images/* answer
and `GET /v1/quota`, through the official openai SDK (`with_raw_response`) and plain HTTP.

The SDK talks to Django's WSGI handler in-process (httpx's WSGI transport): no worker,
so image calls ask for `respond-async` and jobs are finished by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from django.contrib.auth.models import Group
from django.core.wsgi import get_wsgi_application
from django.test import Client

from accounts.api_keys import api_key_issue
from accounts.models import ApiKey, GroupQuota, Quota
from generations.models import Generation
from generations.services import generation_succeed
from tests.images import png_bytes

DEV = "black-forest-labs/flux.1-dev"  # 10 free images
KPRO = "black-forest-labs/flux-kontext-pro"  # 5 free images
KTEXT = "black-forest-labs/flux-kontext-pro/text-to-image"
ASYNC = {"Prefer": "respond-async"}

pytestmark = pytest.mark.django_db(transaction=True)  # the API's ORM work runs on its own thread


@pytest.fixture
def secret(user: Any) -> str:
    return api_key_issue(user=user, name="quota")[1]


@pytest.fixture
def sdk(secret: str) -> Iterator[openai.OpenAI]:
    transport = httpx.WSGITransport(app=get_wsgi_application())
    with httpx.Client(transport=transport, base_url="http://testserver") as http:
        yield openai.OpenAI(
            base_url="http://testserver/v1", api_key=secret, http_client=http, max_retries=0
        )


def http(secret: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {secret}"})


def _quota(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-darkroom-")}


def test_the_sdk_reads_the_quota_from_an_accepted_calls_headers(
    sdk: openai.OpenAI, enqueued: list
) -> None:
    raw = sdk.images.with_raw_response.generate(
        model=DEV, prompt="a lighthouse", n=3, extra_headers=ASYNC
    )

    assert raw.status_code == 202
    job = Generation.objects.get()
    assert _quota(raw.headers) == {
        "x-darkroom-job-id": str(job.pk),
        "x-darkroom-quota-model": DEV,
        "x-darkroom-quota-limit": "10",
        "x-darkroom-quota-remaining": "7",  # three held by the running job
    }


def test_a_refusal_for_quota_carries_the_headers_the_sdk_exposes(
    sdk: openai.OpenAI, user: Any, enqueued: list
) -> None:
    Quota.objects.create(user=user, model=DEV, limit=2, used=1)

    with pytest.raises(openai.RateLimitError) as refused:
        sdk.images.with_raw_response.generate(model=DEV, prompt="a cat", n=2, extra_headers=ASYNC)

    headers = refused.value.response.headers
    assert refused.value.code == "insufficient_quota"
    assert (headers["x-darkroom-quota-limit"], headers["x-darkroom-quota-remaining"]) == ("2", "1")
    assert not Generation.objects.exists()


def test_a_keys_cap_shows_beside_the_persons_quota_where_it_applies(
    user: Any, secret: str, enqueued: list
) -> None:
    Quota.objects.create(user=user, model=DEV, unlimited=True)
    ApiKey.objects.update(image_cap=4, cap_period="daily", cap_model=DEV)
    client = http(secret)

    capped = client.post(
        "/v1/images/generations",
        {"model": DEV, "prompt": "x", "n": 1},
        content_type="application/json",
        headers=ASYNC,
    )
    other = client.post(
        "/v1/images/generations",
        {"model": KTEXT, "prompt": "x"},
        content_type="application/json",
        headers=ASYNC,
    )

    assert capped.status_code == 202, capped.content
    assert capped["x-darkroom-quota-limit"] == "unlimited"
    assert capped["x-darkroom-quota-remaining"] == "unlimited"
    assert (capped["x-darkroom-key-cap-limit"], capped["x-darkroom-key-cap-remaining"]) == (
        "4",
        "3",
    )
    assert int(capped["x-darkroom-key-cap-reset"]) > 0
    assert other.status_code == 202, other.content
    assert "x-darkroom-key-cap-limit" not in other  # the cap is for another model


def test_a_job_fetched_later_carries_the_quota_as_it_stands(
    user: Any, secret: str, enqueued: list
) -> None:
    client = http(secret)
    body = {"model": DEV, "prompt": "x", "n": 2}
    client.post("/v1/images/generations", body, content_type="application/json", headers=ASYNC)
    job = Generation.objects.get()
    generation_succeed(generation=job, images=[png_bytes()], channel="sim")  # one of two

    answer = client.get(f"/v1/images/jobs/{job.pk}")

    assert answer.status_code == 200
    assert answer["x-darkroom-quota-remaining"] == "9"


def test_bad_input_names_no_quota_and_spends_nothing(secret: str, enqueued: list) -> None:
    answer = http(secret).post(
        "/v1/images/generations",
        {"model": "no/such-model", "prompt": "x"},
        content_type="application/json",
    )
    assert answer.status_code == 404
    assert not [h for h in answer.headers if h.lower().startswith("x-darkroom-quota")]
    assert not Quota.objects.exists()
    assert not enqueued


def test_get_quota_lists_each_model_within_the_keys_allowed_models(
    user: Any, secret: str, enqueued: list
) -> None:
    designers = Group.objects.create(name="designers")
    user.groups.add(designers)
    GroupQuota.objects.create(group=designers, model=KPRO, limit=50, period="monthly")
    Quota.objects.create(user=user, model=DEV, limit=20, used=4, reserved=1)
    ApiKey.objects.update(allowed_models=[DEV, KPRO], image_cap=9)

    answer = http(secret).get("/v1/quota")

    assert answer.status_code == 200
    body = answer.json()
    rows = {row["model"]: row for row in body["data"]}
    assert set(rows) == {DEV, KPRO}
    assert rows[DEV] | {"label": ""} == {
        "object": "quota",
        "model": DEV,
        "label": "",
        "limit": 20,
        "used": 4,
        "in_progress": 1,
        "left": 15,
        "period": "never",
        "resets_at": None,
        "source": "person",
        "group": None,
    }
    assert (rows[KPRO]["limit"], rows[KPRO]["source"], rows[KPRO]["group"]) == (
        50,
        "group",
        "designers",
    )
    assert rows[KPRO]["period"] == "monthly"
    assert rows[KPRO]["resets_at"] > 0
    assert body["key_cap"]["limit"] == 9
    assert body["key_cap"]["left"] == 9
    assert body["pools"] == []


def test_the_sdk_reads_get_quota(sdk: openai.OpenAI) -> None:
    body = sdk.get("/quota", cast_to=object)
    assert isinstance(body, dict)
    assert body["object"] == "list"
    assert {row["model"]: row["left"] for row in body["data"]}[DEV] == 10


def test_get_quota_wants_a_key() -> None:
    answer = Client().get("/v1/quota")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"


def test_the_openapi_document_and_docs_page_describe_the_quota() -> None:
    schema = Client().get("/v1/openapi.json").json()
    assert schema["paths"]["/v1/quota"]["get"]["operationId"] == "getQuota"
    created = schema["paths"]["/v1/images/generations"]["post"]["responses"]
    assert "x-darkroom-quota-remaining" in created["202"]["headers"]
    assert "x-darkroom-quota-remaining" in created["429"]["headers"]
    page = Client().get("/v1/docs").content.decode()
    assert "GET /v1/quota" in page
    assert "x-darkroom-quota-remaining" in page
