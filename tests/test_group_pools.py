"""Pooled group budgets: members share a group's images per model and period, race-free."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from accounts.models import AuditEntry, GroupPool, Quota
from accounts.quota import quota_status
from accounts.quota.pools import pool_left, pool_set
from common.errors import QuotaExceeded
from generations.models import Generation
from generations.services import generation_create, generation_fail, generation_succeed
from tests.images import png_bytes

DEV = "black-forest-labs/flux.1-dev"  # 10 free images each

pytestmark = pytest.mark.django_db


@pytest.fixture
def designers(user: Any, other_user: Any) -> Group:
    group = Group.objects.create(name="designers")
    group.user_set.add(user, other_user)
    return group


def _pool(group: Group, size: int, mode: str = "overflow", period: str = "monthly") -> GroupPool:
    return pool_set(actor=None, group=group, model=DEV, size=size, period=period, mode=mode)


def _make(user: Any, n: int = 1) -> Generation:
    return generation_create(user=user, model=DEV, prompt="x", params={"n": n})


def test_members_draw_from_the_pool_once_their_own_images_are_spent(
    user: Any, other_user: Any, designers: Group, enqueued: list
) -> None:
    pool = _pool(designers, 3)
    own = _make(user, n=4)
    assert own.quota_pool is None  # 10 of their own first
    _make(user, n=4)
    drawn = _make(user, n=3)  # 2 of their own left: the pool serves the whole request
    assert drawn.quota_pool == pool
    assert pool_left(pool) == 0
    with pytest.raises(QuotaExceeded):
        _make(user, n=3)
    # The pool is shared: another member whose own images are spent finds it empty too.
    Quota.objects.create(user=other_user, model=DEV, used=10)
    with pytest.raises(QuotaExceeded):
        _make(other_user)


def test_an_only_pool_replaces_the_members_own_images(
    user: Any, designers: Group, enqueued: list
) -> None:
    pool = _pool(designers, 2, mode="only")
    assert _make(user, n=2).quota_pool == pool
    with pytest.raises(QuotaExceeded, match="designers pool"):
        _make(user)
    assert quota_status(user=user, model=DEV).reserved == 0  # their own 10 untouched


def test_the_pool_is_settled_once_for_the_images_stored(
    user: Any, designers: Group, enqueued: list
) -> None:
    pool = _pool(designers, 5, mode="only")
    failed = _make(user, n=2)
    generation_fail(generation_id=failed.pk, code="upstream_error", message="x")
    done = _make(user, n=3)
    generation_succeed(generation=done, images=[png_bytes()], channel="sim")  # 1 of 3 came
    generation_fail(generation_id=done.pk, code="x", message="twice")  # a second settle: no-op
    pool.refresh_from_db()
    assert (pool.used, pool.reserved) == (1, 0)
    assert pool_left(pool) == 4


def test_a_new_period_refills_the_pool(user: Any, designers: Group, enqueued: list) -> None:
    pool = _pool(designers, 1, mode="only", period="monthly")
    done = _make(user)
    generation_succeed(generation=done, images=[png_bytes()], channel="sim")
    with pytest.raises(QuotaExceeded):
        _make(user)
    GroupPool.objects.filter(pk=pool.pk).update(used_since=timezone.now() - timedelta(days=40))
    assert _make(user).quota_pool == pool


def test_pool_changes_are_audited_and_keep_the_counters(
    user: Any, admin_user: Any, designers: Group, enqueued: list
) -> None:
    pool = _pool(designers, 2, mode="only")
    _make(user, n=2)
    pool_set(
        actor=admin_user,
        group=designers,
        model=DEV,
        size=500,
        period="monthly",
        mode="only",
        reason="more for the launch",
    )
    pool.refresh_from_db()
    assert (pool.size, pool.reserved) == (500, 2)
    audit = AuditEntry.objects.filter(action="pool", actor=admin_user).get()
    assert (audit.field, audit.old_value, audit.new_value) == ("pool size", "2", "500")


def test_the_group_page_edits_pools_through_the_audit(
    admin_client: Any, admin_user: Any, designers: Group
) -> None:
    response = admin_client.post(
        f"/admin/auth/group/{designers.pk}/change/",
        {
            "name": "designers",
            "quotas-TOTAL_FORMS": "0",
            "quotas-INITIAL_FORMS": "0",
            "pools-TOTAL_FORMS": "1",
            "pools-INITIAL_FORMS": "0",
            "pools-0-model": DEV,
            "pools-0-size": "50",
            "pools-0-period": "weekly",
            "pools-0-mode": "overflow",
            "directory-TOTAL_FORMS": "0",
            "directory-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    pool = GroupPool.objects.get(group=designers)
    assert (pool.size, pool.period, pool.mode) == (50, "weekly", "overflow")
    assert AuditEntry.objects.filter(action="pool", actor=admin_user).count() == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_members_get_exactly_the_pool(
    postgres: None, django_user_model: Any, enqueued: list
) -> None:
    """30 members at once on a pool of 7 (their own images at 0): exactly 7 pass, twice."""
    group = Group.objects.create(name="crowd")
    people = [django_user_model.objects.create_user(f"p{i}") for i in range(30)]
    group.user_set.add(*people)
    for person in people:
        Quota.objects.create(user=person, model=DEV, limit=0)
    for _ in range(2):
        Generation.objects.all().delete()
        GroupPool.objects.all().delete()
        pool = _pool(group, 7)
        barrier = Barrier(len(people))

        def attempt(person: Any, barrier: Barrier = barrier) -> bool:
            barrier.wait()
            try:
                _make(person)
                return True
            except QuotaExceeded:
                return False
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=len(people)) as workers:
            granted = sum(workers.map(attempt, people))
        assert granted == 7
        pool.refresh_from_db()
        assert (pool.reserved, pool.used) == (7, 0)


def test_the_status_says_what_the_pool_adds(user: Any, designers: Group, enqueued: list) -> None:
    assert quota_status(user=user, model=DEV).usable == 10
    _pool(designers, 3)
    status = quota_status(user=user, model=DEV)
    assert (status.left, status.pool_name, status.pool_left, status.usable) == (
        10,
        "designers",
        3,
        13,
    )
    GroupPool.objects.update(mode="only")
    status = quota_status(user=user, model=DEV)
    assert (status.pool_only, status.usable) == (True, 3)


def test_the_generate_page_names_the_pool(
    client: Any, user: Any, designers: Group, enqueued: list
) -> None:
    _pool(designers, 3, mode="only")
    client.force_login(user)
    page = client.get("/").content.decode()
    assert "images left in the designers group's shared pool" in page
    assert "disabled" not in page.split('id="submit-row"')[1].split("</div>")[0]
    GroupPool.objects.update(size=0)
    page = client.get("/").content.decode()
    assert "No free images left for this model." in page


def test_the_usage_page_shows_each_limit_and_the_pools(
    client: Any, user: Any, designers: Group, enqueued: list
) -> None:
    _pool(designers, 7)
    client.force_login(user)
    page = client.get("/accounts/usage/").content.decode()
    assert "everyone's free images" in page  # flux.1-dev's 10 come from the catalog
    assert "Shared group pools" in page
    assert "designers" in page
    assert 'href="/accounts/usage/"' in client.get("/").content.decode()  # in the menu
