"""Operations in the admin: the generation list and its filters, retry, stop-and-refund, images."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.quota import quota_reserve, quota_settle, quota_status
from accounts.quota.changes import quota_update
from generations.models import Generation, Image, ReferenceImage
from generations.services import generation_create
from tests.audit_helpers import quota_audit
from tests.images import png_bytes

DEV = "black-forest-labs/flux.1-dev"  # free quota 10
KPRO = "black-forest-labs/flux-kontext-pro"  # free quota 5, takes a reference image
pytestmark = pytest.mark.django_db

GENERATIONS = reverse("admin:generations_generation_changelist")
IMAGES = reverse("admin:generations_image_changelist")


def _failed(user: Any, **fields: Any) -> Generation:
    values = {
        "model": DEV,
        "prompt": "a red fox",
        "params": {"n": 2},
        "n": 2,
        "status": Generation.Status.FAILED,
        "quota_reserved": 2,
        "quota_state": Generation.QuotaState.RELEASED,
        "error_code": "upstream_error",
        "error_message": "the upstream said no",
        "channel": "modelverse",
        "attempts": [
            {
                "channel": "modelverse",
                "at": "2026-01-01T00:00:00+00:00",
                "ok": False,
                "code": "upstream_error",
                "message": "the upstream said no",
            }
        ],
    }
    values.update(fields)
    return Generation.objects.create(user=user, **values)


def _running(user: Any, n: int = 2) -> Generation:
    quota_reserve(user=user, model=DEV, n=n)
    return Generation.objects.create(
        user=user,
        model=DEV,
        prompt="x",
        n=n,
        quota_reserved=n,
        status=Generation.Status.RUNNING,
        channel="modelverse",
    )


def _action(client: Client, action: str, pks: list[Any]) -> Any:
    return client.post(
        GENERATIONS, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True
    )


def _listed(client: Client, **query: str) -> set[Any]:
    return {g.pk for g in client.get(GENERATIONS, query).context["cl"].result_list}


def test_the_list_filters_by_person_model_status_channel_source_and_date(
    admin_client: Client, user: Any, other_user: Any
) -> None:
    failed = _failed(user)
    running = _running(other_user)
    api = _failed(other_user, model=KPRO, source=Generation.Source.API, channel="")
    old = _failed(user)
    Generation.objects.filter(pk=old.pk).update(created_at="2020-01-05T10:00:00Z")

    assert _listed(admin_client, status="failed") == {failed.pk, api.pk, old.pk}
    assert _listed(admin_client, user__id__exact=str(other_user.pk)) == {running.pk, api.pk}
    assert _listed(admin_client, model=KPRO) == {api.pk}
    assert _listed(admin_client, channel="modelverse") == {failed.pk, running.pk, old.pk}
    assert _listed(admin_client, channel="-") == {api.pk}
    assert _listed(admin_client, source="api") == {api.pk}
    assert _listed(admin_client, created_at__year="2020") == {old.pk}


def test_the_list_shows_each_failures_error_and_its_attempts(
    admin_client: Client, user: Any
) -> None:
    failed = _failed(user)
    listing = admin_client.get(GENERATIONS).content.decode()
    assert "upstream_error: the upstream said no" in listing
    assert f'href="{reverse("usage_report")}"' in listing  # the way to the report
    page = admin_client.get(reverse("admin:generations_generation_change", args=[failed.pk]))
    html = page.content.decode()
    assert "<td>modelverse</td><td>failed</td><td>upstream_error</td>" in html


def test_retry_queues_the_same_request_again_and_spends_quota(
    admin_client: Client, user: Any, enqueued: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    failed = _failed(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = _action(admin_client, "retry", [failed.pk])
    new = Generation.objects.exclude(pk=failed.pk).get()
    assert (new.user, new.model, new.prompt, new.n, new.status) == (
        user,
        DEV,
        "a red fox",
        2,
        Generation.Status.QUEUED,
    )
    assert enqueued == [str(new.pk)]
    assert quota_status(user=user, model=DEV).reserved == 2
    failed.refresh_from_db()
    assert failed.status == Generation.Status.FAILED  # history stays
    assert "retried as" in " ".join(str(m) for m in response.context["messages"])


def test_retry_carries_the_reference_images(
    admin_client: Client, user: Any, enqueued: list[str]
) -> None:
    source = generation_create(
        user=user,
        model=KPRO,
        prompt="make it blue",
        params={},
        images={"image": [png_bytes(color="red")]},
    )
    Generation.objects.filter(pk=source.pk).update(status=Generation.Status.FAILED)
    quota_settle(user=user, model=KPRO, reserved=1, used=0)
    _action(admin_client, "retry", [source.pk])
    new = Generation.objects.exclude(pk=source.pk).get()
    old_ref, new_ref = ReferenceImage.objects.get(generation=source), new.references.get()
    assert (new_ref.param, new_ref.sha256) == ("image", old_ref.sha256)


def test_retry_is_refused_when_the_person_has_no_quota_left(
    admin_client: Client, user: Any, enqueued: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    failed = _failed(user)
    quota_update(actor=None, user=user, model=DEV, limit=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = _action(admin_client, "retry", [failed.pk])
    assert Generation.objects.count() == 1
    assert enqueued == []
    assert quota_status(user=user, model=DEV).reserved == 0
    text = " ".join(str(m) for m in response.context["messages"])
    assert "Not enough free images left" in text


def test_retry_refuses_a_generation_that_did_not_fail(
    admin_client: Client, user: Any, enqueued: list[str]
) -> None:
    running = _running(user)
    _action(admin_client, "retry", [running.pk])
    assert Generation.objects.count() == 1
    assert enqueued == []


def test_retry_refuses_a_deactivated_persons_generation(
    admin_client: Client, user: Any, enqueued: list[str]
) -> None:
    failed = _failed(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = _action(admin_client, "retry", [failed.pk])
    assert Generation.objects.count() == 1
    assert enqueued == []
    assert "alice is deactivated." in " ".join(str(m) for m in response.context["messages"])


def test_stop_fails_a_stuck_generation_and_refunds_it_once(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    stuck = _running(user, n=3)
    done = _failed(user)
    assert quota_status(user=user, model=DEV).reserved == 3
    response = _action(admin_client, "stop_and_refund", [stuck.pk, done.pk])
    stuck.refresh_from_db()
    assert (stuck.status, stuck.error_code, stuck.quota_state) == (
        Generation.Status.FAILED,
        "stopped_by_operator",
        Generation.QuotaState.RELEASED,
    )
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved, status.left) == (0, 0, 10)
    assert "Failed and refunded 1; 1 had already finished." in [
        str(m) for m in response.context["messages"]
    ]
    _action(admin_client, "stop_and_refund", [stuck.pk])  # twice: nothing more
    assert quota_status(user=user, model=DEV).reserved == 0
    audit = quota_audit().get()
    assert (audit.actor, audit.action, audit.field) == (admin_user, "refund", "reserved")


def test_generations_are_history_the_admin_cannot_delete_or_add(
    admin_client: Client, user: Any
) -> None:
    failed = _failed(user)
    delete = reverse("admin:generations_generation_delete", args=[failed.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:generations_generation_add")).status_code == 403
    assert Generation.objects.filter(pk=failed.pk).exists()


def test_the_image_list_shows_thumbnails_linking_to_the_detail(
    admin_client: Client, user: Any
) -> None:
    generation = _failed(user, status=Generation.Status.SUCCEEDED, error_code="")
    image = Image.objects.create(
        generation=generation,
        index=0,
        file="images/a.png",
        thumbnail="thumbs/a.webp",
        width=64,
        height=64,
        format="PNG",
        bytes=100,
        sha256="0" * 64,
    )
    html = admin_client.get(IMAGES).content.decode()
    thumb = reverse("image_thumbnail", args=[image.pk])
    detail = reverse("admin:generations_image_change", args=[image.pk])
    assert f'<a href="{detail}"><img src="{thumb}"' in html
    page = admin_client.get(detail).content.decode()
    assert reverse("image_detail", args=[image.pk]) in page
    assert reverse("admin:generations_generation_change", args=[generation.pk]) in page
