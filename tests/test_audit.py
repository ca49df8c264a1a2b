"""One append-only audit log of what staff and the system do."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse

from accounts.api_keys import api_key_issue
from accounts.models import ApiKey, AuditEntry, GroupPolicy
from accounts.quota.changes import quota_grant
from generations.models import Generation, Image
from providers.models import Channel
from tests.images import png_bytes

pytestmark = pytest.mark.django_db
DEV = "black-forest-labs/flux.1-dev"
AUDIT = reverse("admin:accounts_auditentry_changelist")
ADDRESS = {"REMOTE_ADDR": "203.0.113.7"}


def _entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action))


def _image_of(user: Any) -> Image:
    from generations.results import store_images

    generation = Generation.objects.create(user=user, model=DEV)
    [image] = store_images(generation, [png_bytes()])
    image.save()
    return image


def test_it_records_sign_ins_and_failed_sign_ins_with_the_address(user: Any) -> None:
    client = Client(**ADDRESS)
    client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    client.post(reverse("login"), {"username": "alice", "password": "pw-alice-123"})

    [failed] = _entries("sign-in failed")
    assert (failed.subject, failed.user, failed.actor_name, failed.ip) == (
        "alice",
        user,
        "",
        "203.0.113.7",
    )
    [signed] = _entries("signed in")
    assert (signed.actor, signed.ip) == (user, "203.0.113.7")


def test_it_records_key_creation_and_revocation_by_their_owner(user: Any) -> None:
    client = Client(**ADDRESS)
    client.force_login(user)
    client.post(reverse("api_keys"), {"name": "laptop"})
    [created] = _entries("key created")
    key = ApiKey.objects.get()
    client.post(reverse("api_key_revoke", args=[key.pk]))

    [revoked] = _entries("key revoked")
    assert (created.actor, created.target_type, created.ip) == (user, "api key", "203.0.113.7")
    assert (revoked.actor, revoked.target_id, revoked.user) == (user, key.prefix, user)
    assert "laptop" in revoked.subject


def test_staff_actions_name_the_staff_member(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    key, _raw = api_key_issue(user=user, name="ci")  # outside a request: the system
    admin_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate", "_selected_action": [user.pk]},
        **ADDRESS,
    )
    admin_client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )

    assert _entries("key created")[0].actor_name == ""
    [deactivated] = _entries("deactivated")
    assert (deactivated.actor, deactivated.user, deactivated.ip) == (
        admin_user,
        user,
        "203.0.113.7",
    )
    assert _entries("key revoked")[0].actor == admin_user


def test_it_records_images_staff_delete_but_not_peoples_own(
    admin_user: Any, user: Any, client: Client
) -> None:
    theirs, own = _image_of(user), _image_of(user)
    client.force_login(user)
    client.post(reverse("image_delete", args=[own.pk]))
    assert _entries("image deleted") == []

    client.force_login(admin_user)
    client.post(reverse("image_delete", args=[theirs.pk]))
    [deleted] = _entries("image deleted")
    assert (deleted.actor, deleted.user, deleted.target_id) == (admin_user, user, str(theirs.pk))


def test_it_records_channel_edits_and_switches(admin_client: Client, admin_user: Any) -> None:
    channel = Channel.objects.order_by("pk").first()
    assert channel is not None
    admin_client.post(
        reverse("admin:providers_channel_changelist"),
        {"action": "switch_off", "_selected_action": [channel.pk]},
    )
    [switched] = _entries("channel switched off")
    assert (switched.actor, switched.subject) == (admin_user, str(channel))

    admin_client.post(
        "/admin/providers/channel/add/",
        {
            "name": "spare",
            "format": "replicate",
            "enabled": "on",
            "base_url": "https://spare.example",
            "base_url_env": "",
            "key_env": "",
            "options": "{}",
            "routes-TOTAL_FORMS": "0",
            "routes-INITIAL_FORMS": "0",
            "routes-MIN_NUM_FORMS": "0",
            "routes-MAX_NUM_FORMS": "1000",
        },
    )
    [added] = _entries("channel added")
    assert (added.actor, added.subject, added.target_type) == (admin_user, "spare", "channel")


def test_staff_filter_and_export_it_as_csv(admin_client: Client, user: Any) -> None:
    quota_grant(actor=None, user=user, model=DEV, n=3, reason="launch week")
    page = admin_client.get(AUDIT, {"action__exact": "grant"}).content.decode()
    assert "launch week" in page
    assert "1 audit entry" in page

    response = admin_client.post(
        AUDIT,
        {
            "action": "export_csv",
            "_selected_action": list(AuditEntry.objects.values_list("pk", flat=True)),
        },
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    grant = next(r for r in rows if r["action"] == "grant")
    assert (grant["actor_name"], grant["subject"], grant["reason"]) == (
        "system",
        "alice",
        "launch week",
    )
    assert grant["old_value"] == "10 (catalog)"
    assert grant["new_value"] == "13"


def test_the_admin_cannot_edit_or_delete_entries(admin_client: Client, user: Any) -> None:
    quota_grant(actor=None, user=user, model=DEV, n=3)
    entry = AuditEntry.objects.get(action="grant")
    delete = reverse("admin:accounts_auditentry_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.usefixtures("postgres")
def test_postgresql_refuses_update_and_delete_but_lets_a_person_go(
    admin_user: Any, user: Any
) -> None:
    quota_grant(actor=admin_user, user=user, model=DEV, n=3)
    entry = AuditEntry.objects.get(action="grant")
    for sql in (
        "UPDATE accounts_auditentry SET reason = 'rewritten' WHERE id = %s",
        "DELETE FROM accounts_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            connection.cursor().execute(sql, [entry.pk])
    user.delete()  # Django nulls the foreign key: the one update the trigger allows
    entry.refresh_from_db()
    assert (entry.user, entry.subject, entry.actor, entry.reason) == (None, "alice", admin_user, "")


def test_it_records_group_policy_changes(admin_client: Client, admin_user: Any) -> None:
    design = Group.objects.create(name="design")
    admin_client.post(
        reverse("admin:accounts_grouppolicy_add"),
        {"group": design.pk, "retention_days": "90", "storage_cap_mb": ""},
    )
    policy = GroupPolicy.objects.get(group=design)
    admin_client.post(
        reverse("admin:accounts_grouppolicy_change", args=[policy.pk]),
        {"group": design.pk, "retention_days": "30", "storage_cap_mb": "500"},
    )
    entries = AuditEntry.objects.filter(action="group policy").order_by("id")
    assert [(e.field, e.old_value, e.new_value, e.actor) for e in entries] == [
        ("retention_days", "inherit", "90", admin_user),
        ("retention_days", "90", "30", admin_user),
        ("storage_cap_mb", "inherit", "500", admin_user),
    ]


def test_it_records_people_edited_in_the_admin_form(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    design = Group.objects.create(name="design")
    page = reverse("admin:accounts_user_change", args=[user.pk])
    admin_client.post(
        page,
        {
            "username": "alice",
            "email": "alice@example.com",
            "groups": [design.pk],
            "quotas-TOTAL_FORMS": "0",  # the person's own limits inline, left as they are
            "quotas-INITIAL_FORMS": "0",
        },  # is_active left out: unticked
    )
    [entry] = _entries("person changed")
    assert (entry.actor, entry.subject, entry.target_id) == (admin_user, "alice", str(user.pk))
    assert "Active" in entry.detail["changes"]
    assert "Groups" in entry.detail["changes"]


def test_it_records_lockouts(user: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    client = Client(**ADDRESS)
    for _ in range(2):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    [locked] = _entries("locked out")  # the second failure reached the limit
    assert (locked.subject, locked.user, locked.actor_name, locked.ip) == (
        "alice",
        user,
        "",
        "203.0.113.7",
    )


def test_it_records_group_changes_single_sign_on_makes(user: Any) -> None:
    from accounts.sso.groups import directory_groups_sync

    Group.objects.create(name="design")
    directory_groups_sync(user=user, names=["design", "unknown"])
    directory_groups_sync(user=user, names=["design"])  # nothing changes: no entry
    [entry] = _entries("sso groups")
    assert (entry.user, entry.detail) == (user, {"joined": ["design"], "left": []})
