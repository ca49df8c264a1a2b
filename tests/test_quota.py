from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import Quota
from accounts.quota import quota_reserve, quota_set_limit, quota_settle, quota_status
from common.errors import ModelNotFound, QuotaExceeded
from generations.services import generation_create

DEV = "black-forest-labs/flux.1-dev"
KMAX = "black-forest-labs/flux-kontext-max/text-to-image"
pytestmark = pytest.mark.django_db


def test_a_new_person_gets_the_catalogs_free_quota(user: Any) -> None:
    status = quota_status(user=user, model=DEV)
    assert (status.limit, status.used, status.reserved, status.left) == (10, 0, 0, 10)
    assert quota_status(user=user, model=KMAX).left == 0


def test_it_reserves_and_refuses_whole(user: Any) -> None:
    quota_reserve(user=user, model=DEV, n=4)
    quota_reserve(user=user, model=DEV, n=4)
    with pytest.raises(QuotaExceeded) as info:
        quota_reserve(user=user, model=DEV, n=4)
    assert info.value.left == 2
    assert "2 left" in info.value.message
    assert quota_status(user=user, model=DEV).reserved == 8  # the refused 4 held nothing


def test_settling_commits_what_was_stored_and_releases_the_rest(user: Any) -> None:
    quota_reserve(user=user, model=DEV, n=4)
    quota_settle(user=user, model=DEV, reserved=4, used=3)
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved, status.left) == (3, 0, 7)


def test_a_zero_quota_model_refuses_at_once(user: Any) -> None:
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user, model=KMAX, n=1)


def test_an_operator_limit_overrides_the_default(user: Any) -> None:
    quota_set_limit(user=user, model=KMAX, limit=3)
    quota_reserve(user=user, model=KMAX, n=3)
    quota_set_limit(user=user, model=KMAX, limit=None)
    assert quota_status(user=user, model=KMAX).limit == 0


def test_it_refuses_an_unknown_model(user: Any) -> None:
    with pytest.raises(ModelNotFound):
        quota_set_limit(user=user, model="nope/nope", limit=3)


def test_the_quota_command_shows_and_sets(user: Any, capsys: Any) -> None:
    call_command("quota", "set", "--user", "alice", "--model", KMAX, "--limit", "7")
    call_command("quota", "show", "--user", "alice")
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith(KMAX + " "))
    assert line.split()[1:] == ["7", "0", "0", "7"]


def test_a_refused_request_spends_nothing_and_queues_nothing(user: Any, enqueued: list) -> None:
    quota_set_limit(user=user, model=DEV, limit=1)
    with pytest.raises(QuotaExceeded):
        generation_create(user=user, model=DEV, prompt="x", params={"n": 2})
    assert enqueued == []
    assert user.generations.count() == 0
    assert quota_status(user=user, model=DEV).reserved == 0


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_requests_get_exactly_the_quota(
    postgres: None, user: Any, enqueued: list
) -> None:
    """200 requests at once against 10 free images: exactly 10 granted, every time.

    80 threads (PostgreSQL's default 100 connections bound it) released together
    by a barrier, each going through the full create service.
    """
    threads, requests = 80, 200
    barrier = Barrier(threads, timeout=120)  # a thread that never arrives fails the test

    def attempt(i: int) -> bool:
        if i < threads:
            barrier.wait()
        try:
            generation_create(user=user, model=DEV, prompt=f"cat {i}", params={})
            return True
        except QuotaExceeded:
            return False
        finally:
            connection.close()

    for _ in range(3):
        Quota.objects.filter(user=user).delete()
        user.generations.all().delete()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            granted = sum(pool.map(attempt, range(requests)))
        assert granted == 10
        assert user.generations.count() == 10
        assert quota_status(user=user, model=DEV).reserved == 10
