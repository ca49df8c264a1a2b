"""Inputs that once crashed the API: each is a 4xx with the whole envelope, and spends nothing.

Every test here also checks that no job was created and no quota reserved or used.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import AsyncClient

from accounts.api_keys import api_key_issue
from accounts.quota import quota_set_limit, quota_status
from generations.models import Generation, Webhook
from generations.sync import run_sync
from tests.test_api_requests import DEV, KeyClient, anyio_backend, upload  # noqa: F401

NEGATIVE = "black-forest-labs/flux-kontext-max/text-to-image"  # takes negative_prompt
EDITS = "black-forest-labs/flux-kontext-max/multi"

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def api(user: Any) -> AsyncClient:
    return KeyClient(api_key_issue(user=user, name="test")[1])


def envelope(message: str, param: str | None, code: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


async def assert_nothing_spent(user: Any, *models: str) -> None:
    assert await Generation.objects.acount() == 0
    assert await Webhook.objects.acount() == 0
    for model in models:
        status = await run_sync(quota_status, user=user, model=model)
        assert (status.used, status.reserved) == (0, 0), model


@pytest.mark.parametrize(
    ("model", "field", "value", "what"),
    [
        (DEV, "prompt", "a kite\x00at dusk", "a NUL character"),
        (NEGATIVE, "negative_prompt", "no\x00rain", "a NUL character"),
        (DEV, "prompt", "a kite \ud800", "an unpaired surrogate (\\ud800)"),
        (NEGATIVE, "negative_prompt", "\udfff", "an unpaired surrogate (\\udfff)"),
    ],
)
async def test_it_refuses_text_no_database_can_store(
    api: AsyncClient, user: Any, enqueued: list, model: str, field: str, value: str, what: str
) -> None:
    await run_sync(quota_set_limit, user=user, model=model, limit=10)
    body = {"model": model, "prompt": "a kite", field: value}
    # json.dumps escapes the surrogate as the 6 characters \ud800, as a client would.
    response = await api.post(
        "/v1/images/generations", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == envelope(
        f"'{field}' contains {what}, which cannot be stored as text.", field, "invalid_text"
    )
    await assert_nothing_spent(user, model)
    assert enqueued == []


@pytest.mark.parametrize("depth", [100_000, 900])
async def test_it_refuses_a_deeply_nested_json_body(
    api: AsyncClient, user: Any, enqueued: list, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    body = f'{{"model": "{DEV}", "prompt": "x", "extra": {nested}}}'
    response = await api.post("/v1/images/generations", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == envelope(
        "The request body is nested more than 32 levels deep.", None, "invalid_json"
    )
    await assert_nothing_spent(user, DEV)


async def test_it_refuses_101_image_parts_naming_the_limit(
    api: AsyncClient, user: Any, enqueued: list
) -> None:
    await run_sync(quota_set_limit, user=user, model=EDITS, limit=10)
    response = await api.post(
        "/v1/images/edits",
        {"model": EDITS, "prompt": "x", "image[]": [upload() for _ in range(101)]},
    )
    assert response.status_code == 400
    assert response.json() == envelope(
        "The request carries more than 100 files.", "image", "invalid_image_count"
    )
    await assert_nothing_spent(user, EDITS)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/v1/models/x%0Ay", 404, "model_not_found"),
        ("get", "/v1/models/x%00y", 404, "model_not_found"),
        ("get", "/v1/x%0Ay", 404, "not_found"),
        ("get", "/v1/images/jobs/not-a-uuid", 404, "not_found"),
        ("get", "/v1/files/images/nope.png", 404, "not_found"),
        ("post", "/v1/models", 405, "method_not_allowed"),
        ("delete", "/v1/images/generations", 405, "method_not_allowed"),
        ("post", "/v1/files/images/nope.png", 405, "method_not_allowed"),
        ("post", "/v1/openapi.json", 405, "method_not_allowed"),
        ("post", "/v1/docs", 405, "method_not_allowed"),
    ],
)
async def test_every_404_and_405_under_v1_is_the_envelope(
    api: AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    response = await getattr(api, method)(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("invalid_request_error", code)
    assert response["x-request-id"].startswith("req_")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://localhost/hook",
        "ftp://example.com/hook",
    ],
)
async def test_it_refuses_a_webhook_url_the_guard_would_refuse(
    api: AsyncClient, user: Any, enqueued: list, url: str
) -> None:
    response = await api.post(
        "/v1/images/generations",
        {"model": DEV, "prompt": "x", "webhook_url": url},
        content_type="application/json",
        headers={"Prefer": "respond-async"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("webhook_url", "url_not_allowed")
    assert error["message"].startswith("Cannot send notices to 'webhook_url': ")
    await assert_nothing_spent(user, DEV)


@pytest.mark.parametrize(
    ("field", "value", "status", "code"),
    [
        ("model", "flux\x00", 404, "model_not_found"),
        ("model", "flux\ud800", 404, "model_not_found"),
        ("response_format", "url\x00", 400, "invalid_value"),
        ("webhook_url", "https://example.com/\ud800", 400, "invalid_value"),
        ("size", "512x512\x00", 400, "invalid_value"),
    ],
)
async def test_other_fields_with_unstorable_text_are_refused_too(
    api: AsyncClient, user: Any, enqueued: list, field: str, value: str, status: int, code: str
) -> None:
    body = {"model": DEV, "prompt": "a kite", field: value}
    response = await api.post(
        "/v1/images/generations", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (field, code)
    await assert_nothing_spent(user, DEV)


async def test_a_nul_in_a_multipart_prompt_is_refused_like_in_json(
    api: AsyncClient, user: Any, enqueued: list
) -> None:
    await run_sync(quota_set_limit, user=user, model=EDITS, limit=10)
    response = await api.post(
        "/v1/images/edits", {"model": EDITS, "prompt": "a\x00b", "image[]": [upload(), upload()]}
    )
    assert response.status_code == 400
    assert response.json() == envelope(
        "'prompt' contains a NUL character, which cannot be stored as text.",
        "prompt",
        "invalid_text",
    )
    await assert_nothing_spent(user, EDITS)


async def test_the_docs_page_says_which_webhook_urls_are_refused() -> None:
    english = (await AsyncClient().get("/v1/docs")).content.decode()
    assert "must be a public http or https address" in english
    chinese = await AsyncClient().get("/v1/docs", headers={"Accept-Language": "zh-hans"})
    assert "必须是公网上的 http 或 https 地址" in chinese.content.decode()
