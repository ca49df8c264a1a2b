"""The quota admin: lists, edits, bulk actions, the audit log, people, and who may reach it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey, GroupQuota, ModelQuotaPolicy, Period, Quota
from accounts.quota import quota_reserve, quota_settle, quota_status
from accounts.quota.changes import group_quota_update, quota_grant, quota_update
from common.errors import QuotaExceeded
from generations.api.auth import key_for
from generations.api.errors import AuthenticationFailed
from tests.audit_helpers import quota_audit

DEV = "black-forest-labs/flux.1-dev"  # catalog free quota 10
KMAX = "black-forest-labs/flux-kontext-max/text-to-image"  # catalog free quota 0
pytestmark = pytest.mark.django_db

QUOTAS = reverse("admin:accounts_quota_changelist")
USERS = reverse("admin:accounts_user_changelist")
GROUPS = reverse("admin:auth_group_changelist")
AUDIT = reverse("admin:accounts_auditentry_changelist")


def _spend(user: Any, model: str, n: int) -> None:
    quota_reserve(user=user, model=model, n=n)
    quota_settle(user=user, model=model, reserved=n, used=n)


def _action(client: Client, url: str, action: str, pks: list[Any], **fields: Any) -> Any:
    data = {"action": action, "_selected_action": [str(pk) for pk in pks], **fields}
    return client.post(url, data, follow=True)


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def design(user: Any) -> Group:
    group = Group.objects.create(name="design")
    group.user_set.add(user)
    return group


def test_it_lists_each_quota_with_its_effective_limit_and_where_it_comes_from(
    admin_client: Client, user: Any, other_user: Any, design: Group
) -> None:
    group_quota_update(actor=None, group=design, model=DEV, limit=25)
    _spend(user, DEV, 4)
    _spend(other_user, DEV, 1)
    response = admin_client.get(QUOTAS, {"q": "alice"})
    rows = list(response.context["cl"].result_list)
    assert [(q.user.username, q.model) for q in rows] == [("alice", DEV)]
    html = response.content.decode()
    assert "group design" in html
    assert ">25<" in html
    assert ">21<" in html


def test_it_filters_quotas_by_group_and_model(
    admin_client: Client, user: Any, other_user: Any, design: Group
) -> None:
    _spend(user, DEV, 1)
    _spend(other_user, DEV, 1)
    quota_update(actor=None, user=user, model=KMAX, limit=2)
    by_group = admin_client.get(QUOTAS, {"group": str(design.pk)}).context["cl"].result_list
    assert {q.user.username for q in by_group} == {"alice"}
    by_model = admin_client.get(QUOTAS, {"model": KMAX}).context["cl"].result_list
    assert [(q.user.username, q.model) for q in by_model] == [("alice", KMAX)]


def test_editing_a_quota_writes_only_the_limit_and_keeps_spending_made_meanwhile(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    _spend(user, DEV, 2)
    quota = Quota.objects.get(user=user, model=DEV)
    url = reverse("admin:accounts_quota_change", args=[quota.pk])
    assert admin_client.get(url).status_code == 200  # the admin opens the form...
    _spend(user, DEV, 3)  # ...the person generates 3 more while it is open...
    quota_reserve(user=user, model=DEV, n=1)
    response = admin_client.post(url, {"limit": "40", "reason": "project"})  # ...and saves
    assert response.status_code == 302
    status = quota_status(user=user, model=DEV)
    assert (status.limit, status.used, status.reserved) == (40, 5, 1)
    audit = quota_audit().get()
    assert (
        audit.actor,
        audit.subject,
        audit.field,
        audit.old_value,
        audit.new_value,
        audit.reason,
    ) == (admin_user, "alice", "limit", "inherit", "40", "project")


def test_adding_a_quota_for_a_person_goes_through_the_service(
    admin_client: Client, user: Any
) -> None:
    response = admin_client.post(
        reverse("admin:accounts_quota_add"),
        {"user": user.pk, "model": KMAX, "limit": "3", "reason": "x"},
    )
    assert response.status_code == 302
    assert quota_status(user=user, model=KMAX).limit == 3
    assert quota_audit().filter(subject="alice", model=KMAX, new_value="3").exists()


def test_the_grant_action_gives_the_selected_people_n_more(
    admin_client: Client, user: Any, other_user: Any, django_user_model: Any
) -> None:
    carol = django_user_model.objects.create_user("carol")
    quota_update(actor=None, user=other_user, model=DEV, limit=4)
    response = _action(
        admin_client,
        USERS,
        "grant_images",
        [user.pk, other_user.pk],
        model=DEV,
        n="5",
        reason="launch week",
    )
    assert "Granted 5 images of black-forest-labs/flux.1-dev: 2 of 2 changed." in _messages(
        response
    )
    assert quota_status(user=user, model=DEV).limit == 15
    assert quota_status(user=other_user, model=DEV).limit == 9
    assert quota_status(user=carol, model=DEV).limit == 10
    assert quota_audit().filter(action="grant", reason="launch week").count() == 2


def test_the_grant_action_refuses_without_a_model_or_number(
    admin_client: Client, user: Any
) -> None:
    response = _action(admin_client, USERS, "grant_images", [user.pk], n="5")
    assert "Choose a model beside the action menu." in _messages(response)
    response = _action(admin_client, USERS, "grant_images", [user.pk], model=DEV)
    assert "Enter how many images beside the action menu." in _messages(response)
    assert not quota_audit().exists()


def test_the_group_grant_gives_every_member_n_more(
    admin_client: Client, user: Any, other_user: Any, django_user_model: Any, design: Group
) -> None:
    carol = django_user_model.objects.create_user("carol")
    design.user_set.add(other_user)
    group_quota_update(actor=None, group=design, model=KMAX, limit=2)
    _action(admin_client, GROUPS, "grant_members", [design.pk], model=KMAX, n="3")
    assert quota_status(user=user, model=KMAX).limit == 5
    assert quota_status(user=other_user, model=KMAX).limit == 5
    assert quota_status(user=carol, model=KMAX).limit == 0
    assert quota_audit().filter(action="grant").count() == 2


def test_the_quota_list_grant_action_grants_each_selected_row(
    admin_client: Client, user: Any
) -> None:
    _spend(user, DEV, 1)
    quota_update(actor=None, user=user, model=KMAX, limit=1)
    rows = list(Quota.objects.filter(user=user).values_list("pk", flat=True))
    _action(admin_client, QUOTAS, "grant_more", rows, n="2")
    assert quota_status(user=user, model=DEV).limit == 12
    assert quota_status(user=user, model=KMAX).limit == 3


def test_the_reset_action_sets_used_to_zero_and_keeps_holds(
    admin_client: Client, user: Any, other_user: Any
) -> None:
    _spend(user, DEV, 6)
    quota_reserve(user=user, model=DEV, n=2)
    _spend(other_user, DEV, 3)
    pk = Quota.objects.get(user=user, model=DEV).pk
    _action(admin_client, QUOTAS, "reset_used", [pk], reason="new sprint")
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved, status.left) == (0, 2, 8)
    assert quota_status(user=other_user, model=DEV).used == 3
    audit = quota_audit().get(action="reset used")
    assert (audit.old_value, audit.new_value, audit.reason) == ("6", "0", "new sprint")


def test_the_people_and_group_reset_actions(
    admin_client: Client, user: Any, other_user: Any, design: Group
) -> None:
    _spend(user, DEV, 6)
    _spend(other_user, DEV, 3)
    _action(admin_client, GROUPS, "reset_members_used", [design.pk], model=DEV)
    assert quota_status(user=user, model=DEV).used == 0
    assert quota_status(user=other_user, model=DEV).used == 3
    _action(admin_client, USERS, "reset_used", [other_user.pk], model=DEV)
    assert quota_status(user=other_user, model=DEV).used == 0


def test_the_set_unlimited_actions(
    admin_client: Client, user: Any, other_user: Any, design: Group
) -> None:
    _action(admin_client, USERS, "set_unlimited", [other_user.pk], model=KMAX)
    _action(admin_client, GROUPS, "set_group_unlimited", [design.pk], model=KMAX)
    _spend(user, KMAX, 4)
    _spend(other_user, KMAX, 4)
    assert GroupQuota.objects.get(group=design, model=KMAX).unlimited
    assert quota_status(user=user, model=KMAX).limit is None
    pk = Quota.objects.get(user=other_user, model=KMAX).pk
    _action(admin_client, QUOTAS, "clear_unlimited", [pk])
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=other_user, model=KMAX, n=1)
    pk = Quota.objects.create(user=user, model=DEV).pk
    _action(admin_client, QUOTAS, "set_unlimited", [pk])
    assert quota_status(user=user, model=DEV).limit is None
    assert quota_audit().filter(field="unlimited").count() == 4


def test_editing_a_group_inline_goes_through_the_audit_log(
    admin_client: Client, admin_user: Any, user: Any, design: Group
) -> None:
    url = reverse("admin:auth_group_change", args=[design.pk])
    prefix = "quotas"
    response = admin_client.post(
        url,
        {
            "name": "design",
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
            f"{prefix}-0-model": KMAX,
            f"{prefix}-0-limit": "7",
            f"{prefix}-0-period": "weekly",
            # the group's pools and directory setting (single sign-on), left unset
            "pools-TOTAL_FORMS": "0",
            "pools-INITIAL_FORMS": "0",
            "directory-TOTAL_FORMS": "0",
            "directory-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert quota_status(user=user, model=KMAX).limit == 7
    audits = quota_audit().filter(group=design).order_by("field")
    assert [(a.field, a.old_value, a.new_value, a.actor) for a in audits] == [
        ("limit", "inherit", "7", admin_user),
        ("period", "inherit", "weekly", admin_user),
    ]


def test_a_model_period_is_set_in_the_admin_and_audited(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:accounts_modelquotapolicy_add"), {"model": DEV, "period": "daily"}
    )
    assert response.status_code == 302
    assert ModelQuotaPolicy.objects.get(model=DEV).period == Period.DAILY
    assert quota_audit().get(field="period").new_value == "daily"


def test_the_person_page_shows_every_model_with_its_source(
    admin_client: Client, user: Any, design: Group
) -> None:
    group_quota_update(actor=None, group=design, model=KMAX, limit=8)
    html = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content
    text = html.decode()
    assert "group design" in text
    assert "catalog" in text
    assert KMAX in text


# --- The audit log ----------------------------------------------------------------------


def test_admins_read_the_audit_log_but_cannot_change_or_delete_it(
    admin_client: Client, user: Any
) -> None:
    quota_grant(actor=None, user=user, model=DEV, n=2, reason="because")
    audit = quota_audit().get()
    response = admin_client.get(AUDIT)
    assert response.status_code == 200
    assert "because" in response.content.decode()
    change = reverse("admin:accounts_auditentry_change", args=[audit.pk])
    assert admin_client.get(change).status_code == 200  # viewable
    admin_client.post(change, {"reason": "rewritten", "new_value": "999"})
    delete = reverse("admin:accounts_auditentry_delete", args=[audit.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:accounts_auditentry_add")).status_code == 403
    _action(admin_client, AUDIT, "delete_selected", [audit.pk], post="yes")
    audit.refresh_from_db()
    assert (audit.reason, audit.new_value) == ("because", "12")


def test_the_audit_log_refuses_edits_and_deletes_in_code(user: Any) -> None:
    quota_grant(actor=None, user=user, model=DEV, n=2)
    audit = quota_audit().get()
    audit.reason = "rewritten"
    with pytest.raises(TypeError):
        audit.save()
    with pytest.raises(TypeError):
        audit.delete()
    with pytest.raises(TypeError):
        quota_audit().update(reason="x")
    with pytest.raises(TypeError):
        quota_audit().all().delete()
    assert quota_audit().get().reason == ""


def test_the_audit_row_outlives_the_person(admin_user: Any, user: Any) -> None:
    quota_grant(actor=admin_user, user=user, model=DEV, n=2)
    user.delete()
    audit = quota_audit().get()
    assert (audit.user, audit.subject, audit.actor) == (None, "alice", admin_user)


# --- People --------------------------------------------------------------------------


def test_deactivating_stops_keys_at_once_keeps_history_and_spares_the_admin(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    _key, raw = ApiKey.objects.create_key(name="laptop", user=user)
    assert key_for(raw).user == user
    _spend(user, DEV, 2)
    _action(admin_client, USERS, "deactivate", [user.pk, admin_user.pk])
    user.refresh_from_db()
    admin_user.refresh_from_db()
    assert not user.is_active
    assert admin_user.is_active
    with pytest.raises(AuthenticationFailed):
        key_for(raw)
    assert quota_status(user=user, model=DEV).used == 2
    assert ApiKey.objects.filter(user=user).exists()
    assert not Client().login(username="alice", password="pw-alice-123")
    _action(admin_client, USERS, "reactivate", [user.pk])
    assert Client().login(username="alice", password="pw-alice-123")
    assert key_for(raw).user == user


# --- Who may reach it ---------------------------------------------------------------


ADMIN_PAGES = [
    QUOTAS,
    USERS,
    GROUPS,
    AUDIT,
    reverse("admin:accounts_groupquota_changelist"),
    reverse("admin:accounts_modelquotapolicy_changelist"),
    reverse("admin:generations_generation_changelist"),
    reverse("admin:generations_image_changelist"),
]


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_people_who_arent_staff_never_reach_the_admin(client: Client, user: Any, url: str) -> None:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_non_staff_person_cannot_run_a_quota_action(client: Client, user: Any) -> None:
    client.force_login(user)
    _action(client, USERS, "grant_images", [user.pk], model=DEV, n="100")
    assert quota_status(user=user, model=DEV).limit == 10


def test_staff_without_the_quota_permission_cannot_grant(
    client: Client, django_user_model: Any, user: Any
) -> None:
    clerk = django_user_model.objects.create_user("clerk", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user", "view_quota"])
    )
    client.force_login(clerk)
    assert client.get(USERS).status_code == 200
    _action(client, USERS, "grant_images", [user.pk], model=DEV, n="100")
    assert (
        client.post(
            reverse(
                "admin:accounts_quota_change", args=[Quota.objects.create(user=user, model=DEV).pk]
            ),
            {"limit": "99"},
        ).status_code
        == 403
    )
    assert quota_status(user=user, model=DEV).limit == 10
    assert not quota_audit().exists()


# --- The race -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_admin_grant_while_the_person_spends_is_neither_lost_nor_doubled(
    postgres: None, user: Any, admin_user: Any
) -> None:
    """8 threads spend one image at a time while 4 admins grant +3 five times each.

    Real threads, each with its own PostgreSQL connection, started together. The
    grants must add up exactly, every spend must be counted, nothing overdrawn.
    """
    spenders, tries, granters, grants, n = 8, 15, 4, 5, 3
    barrier = Barrier(spenders + granters, timeout=120)  # fail, never hang, if one is lost

    def spend(_: int) -> int:
        barrier.wait()
        spent = 0
        try:
            for _try in range(tries):
                try:
                    quota_reserve(user=user, model=DEV, n=1)
                except QuotaExceeded:
                    continue
                quota_settle(user=user, model=DEV, reserved=1, used=1)
                spent += 1
        finally:
            connection.close()
        return spent

    def grant(_: int) -> int:
        barrier.wait()
        try:
            return sum(
                quota_grant(actor=admin_user, user=user, model=DEV, n=n, reason="race")
                for _ in range(grants)
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=spenders + granters) as pool:
        spent_futures = [pool.submit(spend, i) for i in range(spenders)]
        grant_futures = [pool.submit(grant, i) for i in range(granters)]
        spent = sum(f.result() for f in spent_futures)
        granted = sum(f.result() for f in grant_futures)

    limit = 10 + granters * grants * n
    status = quota_status(user=user, model=DEV)
    assert granted == granters * grants
    assert (status.limit, status.used, status.reserved) == (limit, spent, 0)
    # Every grant built on the one before it: no two read the same starting limit.
    news = sorted(int(a.new_value) for a in quota_audit().filter(reason="race"))
    assert news == list(range(10 + n, limit + 1, n))
    # And what's left is exactly spendable, then no more.
    if limit > spent:
        quota_reserve(user=user, model=DEV, n=limit - spent)
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user, model=DEV, n=1)
