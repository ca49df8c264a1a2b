"""Staff reach other people's images and references in the portal only as far as their
Django permissions go, and every such read and delete is in the audit log."""

from __future__ import annotations

import zipfile
from io import BytesIO
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry
from generations.models import Image
from tests.portal_helpers import make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def bobs(other_user: Any) -> Any:
    return make_generation(other_user, images=2, prompt="bob's secret harbour", reference=True)


@pytest.fixture
def carol(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("carol", "c@example.com", "pw", is_staff=True)


def _grant(user: Any, *codenames: str) -> Client:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def _reads(image: Image) -> list[str]:
    return [
        reverse("image_detail", args=[image.pk]),
        reverse("image_file", args=[image.pk]),
        reverse("image_thumbnail", args=[image.pk]),
        reverse("image_credentials", args=[image.pk]),
    ]


def test_staff_without_permissions_reach_only_their_own(carol: Any, bobs: Any) -> None:
    client = _grant(carol)
    image = bobs.images.first()
    for url in _reads(image):
        assert client.get(url).status_code == 404, url
    reference = bobs.references.first()
    assert client.get(reverse("reference_file", args=[reference.pk])).status_code == 404
    everyone = client.get(reverse("gallery") + "?everyone=on").content.decode()
    assert "secret harbour" not in everyone
    assert client.post(reverse("image_delete", args=[image.pk])).status_code == 404
    client.post(reverse("images_bulk"), {"action": "delete", "image": [image.pk]})
    assert Image.objects.filter(generation=bobs).count() == 2
    assert not AuditEntry.objects.filter(actor=carol, target_type="image").exists()


def test_staff_allowed_to_view_read_and_each_read_is_audited(
    carol: Any, bobs: Any, other_user: Any
) -> None:
    client = _grant(carol, "view_generation", "view_image", "view_referenceimage")
    image = bobs.images.first()
    for url in _reads(image):
        assert client.get(url).status_code in {200, 404}, url  # 404: no credentials in it
    assert client.get(reverse("image_detail", args=[image.pk])).status_code == 200
    reference = bobs.references.first()
    assert client.get(reverse("reference_file", args=[reference.pk])).status_code == 200
    everyone = client.get(reverse("gallery") + "?everyone=on").content.decode()
    assert "secret harbour" in everyone
    zipped: Any = client.post(
        reverse("images_bulk"), {"action": "zip", "image": [i.pk for i in bobs.images.all()]}
    )
    assert len(zipfile.ZipFile(BytesIO(b"".join(zipped.streaming_content))).namelist()) == 2

    viewed = AuditEntry.objects.filter(actor=carol, action="image viewed", user=other_user)
    hows = sorted(e.detail["how"] for e in viewed if e.target_id == str(image.pk))
    assert hows == sorted(["page", "page", "original", "thumbnail", "credentials", "zip"])
    assert AuditEntry.objects.filter(
        actor=carol, action="reference viewed", target_id=str(reference.pk)
    ).exists()
    # Viewing is not deleting.
    assert client.post(reverse("image_delete", args=[image.pk])).status_code == 404
    assert Image.objects.filter(generation=bobs).count() == 2


def test_staff_allowed_to_delete_delete_and_each_delete_is_audited(
    carol: Any, bobs: Any, other_user: Any
) -> None:
    client = _grant(carol, "view_image", "delete_image")
    first, second = bobs.images.order_by("index")
    assert client.post(reverse("image_delete", args=[first.pk])).status_code == 302
    client.post(reverse("images_bulk"), {"action": "delete", "image": [second.pk]})
    assert not Image.objects.filter(generation=bobs).exists()
    deleted = AuditEntry.objects.filter(actor=carol, action="image deleted", user=other_user)
    assert sorted(deleted.values_list("target_id", flat=True)) == sorted(
        [str(first.pk), str(second.pk)]
    )


def test_a_persons_own_reads_are_not_audited(user: Any) -> None:
    image = make_generation(user).images.get()
    client = Client()
    client.force_login(user)
    assert client.get(reverse("image_detail", args=[image.pk])).status_code == 200
    assert not AuditEntry.objects.filter(action="image viewed").exists()
