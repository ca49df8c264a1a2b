"""Per-API-key caps: at most N images per period through one key, race-free."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.api_keys import api_key_issue
from accounts.models import ApiKey, Quota
from accounts.quota import quota_status
from accounts.quota.caps import key_cap_status
from common.errors import KeyQuotaExceeded
from generations.models import Generation
from generations.services import generation_create, generation_fail, generation_succeed
from tests.images import png_bytes

DEV = "black-forest-labs/flux.1-dev"
KTEXT = "black-forest-labs/flux-kontext-pro/text-to-image"

pytestmark = pytest.mark.django_db


def _key(user: Any, **cap: Any) -> tuple[ApiKey, str]:
    key, secret = api_key_issue(user=user, name="ci")
    ApiKey.objects.filter(pk=key.pk).update(**cap)
    key.refresh_from_db()
    return key, secret


def _make(user: Any, key: ApiKey, n: int = 1, model: str = DEV) -> Generation:
    return generation_create(
        user=user, model=model, prompt="x", params={"n": n}, extra={"api_key": key}
    )


@pytest.mark.django_db(transaction=True)  # the API's ORM work runs on its own thread
def test_a_key_over_its_cap_gets_429_key_quota_exceeded(user: Any, enqueued: list) -> None:
    _, secret = _key(user, image_cap=2)
    client = Client(headers={"Authorization": f"Bearer {secret}", "Prefer": "respond-async"})
    body = {"model": DEV, "prompt": "a cat", "n": 2}
    assert (
        client.post("/v1/images/generations", body, content_type="application/json").status_code
        == 202
    )
    response = client.post(
        "/v1/images/generations", {**body, "n": 1}, content_type="application/json"
    )
    assert response.status_code == 429
    assert response.json()["error"] == {
        "message": "This API key's cap is reached: 1 requested, 0 left of 2. "
        "Ask its owner or an admin to raise the cap.",
        "type": "insufficient_quota",
        "param": "n",
        "code": "key_quota_exceeded",
    }
    assert response["x-should-retry"] == "false"
    # The refused request spent nothing of the person's own quota.
    assert quota_status(user=user, model=DEV).reserved == 2
    assert len(enqueued) == 1


def test_failure_gives_the_cap_back_and_success_counts_what_was_stored(
    user: Any, enqueued: list
) -> None:
    key, _ = _key(user, image_cap=4)
    failed = _make(user, key, n=2)
    generation_fail(generation_id=failed.pk, code="upstream_error", message="x")
    done = _make(user, key, n=3)
    # The upstream gave 2 of the 3 images asked for: 2 are charged.
    generation_succeed(generation=done, images=[png_bytes(), png_bytes()], channel="sim")
    status = key_cap_status(key)
    assert status is not None
    assert (status.used, status.reserved, status.left) == (2, 0, 2)
    # Settling again (a task run twice) changes nothing.
    generation_fail(generation_id=done.pk, code="x", message="x")
    assert key_cap_status(key) == status


def test_a_per_model_cap_leaves_other_models_alone(user: Any, enqueued: list) -> None:
    key, _ = _key(user, image_cap=1, cap_model=DEV)
    _make(user, key)
    with pytest.raises(KeyQuotaExceeded):
        _make(user, key)
    _make(user, key, model=KTEXT)  # not capped


def test_a_new_period_starts_the_count_again(user: Any, enqueued: list) -> None:
    key, _ = _key(user, image_cap=1, cap_period="daily")
    _make(user, key)
    generation_succeed(generation=Generation.objects.get(), images=[png_bytes()], channel="sim")
    with pytest.raises(KeyQuotaExceeded):
        _make(user, key)
    ApiKey.objects.filter(pk=key.pk).update(cap_since=timezone.now() - timedelta(days=2))
    _make(user, key)


def test_the_api_keys_page_shows_each_keys_use(client: Client, user: Any, enqueued: list) -> None:
    key, _ = _key(user, image_cap=5)
    _make(user, key, n=2)
    client.force_login(user)
    page = client.get("/accounts/api-keys/").content.decode()
    assert "2 of 5" in page


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_through_one_key_get_exactly_its_cap(
    postgres: None, user: Any, enqueued: list
) -> None:
    """30 requests at once through a key capped at 7: exactly 7 pass, twice over."""
    threads = 30
    Quota.objects.create(user=user, model=DEV, unlimited=True)  # only the key's cap binds
    for _ in range(2):
        Generation.objects.all().delete()
        ApiKey.objects.all().delete()
        key, _ = _key(user, image_cap=7)
        barrier = Barrier(threads)

        def attempt(i: int, key: ApiKey = key, barrier: Barrier = barrier) -> bool:
            barrier.wait()
            try:
                _make(user, key)
                return True
            except KeyQuotaExceeded:
                return False
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=threads) as pool:
            granted = sum(pool.map(attempt, range(threads)))
        assert granted == 7
        status = key_cap_status(key)
        assert status is not None
        assert status.reserved == 7


def test_cap_changes_are_audited_and_leave_the_counters_alone(
    user: Any, admin_user: Any, enqueued: list
) -> None:
    from accounts.models import AuditEntry
    from accounts.quota.caps import key_cap_set

    key, _ = _key(user, image_cap=3)
    _make(user, key, n=2)
    changed = key_cap_set(
        actor=admin_user, key=key, image_cap=10, cap_period="monthly", cap_model="", reason="q4"
    )
    assert changed == ["image_cap", "cap_period"]
    rows = AuditEntry.objects.filter(action="key cap").order_by("field")
    assert [(r.field.split()[-1], r.old_value, r.new_value, r.actor, r.reason) for r in rows] == [
        ("cap_period", "never", "monthly", admin_user, "q4"),
        ("image_cap", "3", "10", admin_user, "q4"),
    ]
    status = key_cap_status(ApiKey.objects.get(pk=key.pk))
    assert status is not None
    assert (status.cap, status.reserved) == (10, 2)


def test_the_admin_lists_each_keys_cap(admin_client: Client, user: Any, enqueued: list) -> None:
    key, _ = _key(user, image_cap=5)
    _make(user, key, n=2)
    page = admin_client.get("/admin/accounts/apikey/").content.decode()
    assert "2 / 5" in page
