"""Erasure: a person's files, references and keys go; anonymised accounting stays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from accounts.api_keys import api_key_issue
from accounts.models import ApiKey, AuditEntry, ErasureRequest, User
from accounts.quota import quota_status
from generations.erasure import erase_person
from generations.models import Generation
from tests.portal_helpers import FLUX_DEV, make_generation

pytestmark = pytest.mark.django_db
USERS = reverse("admin:accounts_user_changelist")


def _files(user: Any) -> list[str]:
    names: list[str] = []
    for generation in Generation.objects.filter(user=user):
        names += [str(n) for i in generation.images.all() for n in (i.file, i.thumbnail)]
        names += [str(r.file) for r in generation.references.all()]
    return names


def _erase_in_admin(admin_client: Client, person: Any, capture: Any) -> None:
    with capture(execute=True):
        admin_client.post(USERS, {"action": "erase_data", "_selected_action": [person.pk]})


def _assert_erased(user: Any, files: list[str], storage_has: Any) -> None:
    user.refresh_from_db()
    assert files
    assert not any(storage_has(name) for name in files)
    assert (user.username, user.email, user.is_active) == (f"erased-{user.pk}", "", False)
    assert not user.has_usable_password()
    generations = Generation.objects.filter(user=user)
    assert generations.count() == 2
    assert [(g.prompt, g.params, g.model) for g in generations] == [("", {}, FLUX_DEV)] * 2
    assert all(g.purged_at is not None for g in generations)
    assert not ApiKey.objects.filter(user=user).exists()


def _person_with_data(user: Any) -> None:
    make_generation(user, images=2, reference=True)
    make_generation(user, images=1, prompt="my secret project")
    Generation.objects.filter(user=user).update(quota_state=Generation.QuotaState.COMMITTED)
    api_key_issue(user=user, name="laptop")


def test_erasure_stops_and_refunds_a_job_still_running(
    user: Any, enqueued: list, django_capture_on_commit_callbacks: Any
) -> None:
    from generations.services import generation_create

    generation = generation_create(user=user, model=FLUX_DEV, prompt="a fox", params={})
    assert quota_status(user=user, model=FLUX_DEV).reserved == 1
    with django_capture_on_commit_callbacks(execute=True):
        erase_person(actor=None, user=user)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Generation.Status.FAILED, "erased")
    assert quota_status(user=user, model=FLUX_DEV).reserved == 0


def test_staff_erase_a_person_on_local_storage(
    admin_client: Client, admin_user: Any, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _person_with_data(user)
    files = _files(user)
    used = quota_status(user=user, model=FLUX_DEV).used

    _erase_in_admin(admin_client, user, django_capture_on_commit_callbacks)

    _assert_erased(user, files, default_storage.exists)
    assert quota_status(user=user, model=FLUX_DEV).used == used
    entry = AuditEntry.objects.get(action="erased")
    assert (entry.actor, entry.subject, entry.detail["images"]) == (admin_user, "alice", 3)
    assert AuditEntry.objects.filter(action="key revoked", user=user).exists()
    assert not Client().login(username="alice", password="pw-alice-123")


@pytest.fixture
def s3_storage(settings: Any) -> Iterator[Any]:
    moto = pytest.importorskip("moto", reason="moto (dev extra) fakes S3 in-process")
    import boto3

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="darkroom-erasure")
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": "darkroom-erasure",
                    "region_name": "us-east-1",
                    "default_acl": "private",
                    "file_overwrite": False,
                },
            },
        }
        yield client


def test_staff_erase_a_person_on_s3(
    admin_client: Client, user: Any, s3_storage: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _person_with_data(user)
    files = _files(user)
    listed = s3_storage.list_objects_v2(Bucket="darkroom-erasure").get("Contents", [])
    assert {o["Key"] for o in listed} == set(files)  # really on S3 first

    _erase_in_admin(admin_client, user, django_capture_on_commit_callbacks)

    assert s3_storage.list_objects_v2(Bucket="darkroom-erasure").get("Contents", []) == []
    _assert_erased(user, files, lambda name: False)


def test_retention_on_s3_removes_the_objects(
    user: Any, s3_storage: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from generations.retention import purge_expired

    settings.DARKROOM_RETENTION_DAYS = 7
    old = make_generation(user, images=2, reference=True)
    Generation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_expired().total.images == 2
    assert s3_storage.list_objects_v2(Bucket="darkroom-erasure").get("Contents", []) == []


def test_delete_my_data_asks_staff_by_default(user: Any) -> None:
    make_generation(user, images=1)
    client = Client()
    client.force_login(user)
    client.post(reverse("my_data_erase"), {"confirm": "not-me"})
    assert not ErasureRequest.objects.exists()

    client.post(reverse("my_data_erase"), {"confirm": "alice"})
    client.post(reverse("my_data_erase"), {"confirm": "alice"})

    assert ErasureRequest.objects.filter(user=user, done_at=None).count() == 1
    assert AuditEntry.objects.filter(action="erasure requested", actor=user).count() == 1
    assert "an administrator will do it" in client.get(reverse("my_data")).content.decode()
    assert Generation.objects.get().images.count() == 1  # nothing erased yet


def test_staff_erase_from_the_request_list(
    admin_client: Client, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _person_with_data(user)
    request = ErasureRequest.objects.create(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:accounts_erasurerequest_changelist"),
            {"action": "erase", "_selected_action": [request.pk]},
        )
    request.refresh_from_db()
    assert request.done_at is not None
    assert User.objects.get(pk=user.pk).username == f"erased-{user.pk}"


def test_delete_my_data_erases_at_once_when_allowed(
    user: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.DARKROOM_SELF_ERASURE = "self"
    _person_with_data(user)
    files = _files(user)
    client = Client()
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("my_data_erase"), {"confirm": "alice"})
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    _assert_erased(user, files, default_storage.exists)
    assert AuditEntry.objects.get(action="erased").actor == user
    assert client.get(reverse("my_data")).status_code == 302  # signed out
