"""Storage use per person, and the cap that refuses a request before quota is spent."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image as PILImage

from accounts.api_keys import api_key_issue
from accounts.models import GroupPolicy
from accounts.quota import quota_status
from generations.models import Generation, Image
from generations.storage_use import storage_use
from tests.portal_helpers import FLUX_DEV, make_generation

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


def _noise_png(side: int) -> bytes:
    """A PNG of random pixels: it does not compress, so it is about side*side*3 bytes."""
    out = io.BytesIO()
    PILImage.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


def _fill(user: Any, megabytes: float) -> None:
    generation = make_generation(user, images=1, reference=True)
    Image.objects.filter(generation=generation).update(
        bytes=int(megabytes * MB), thumbnail_bytes=1000
    )


def test_it_counts_originals_thumbnails_and_references(user: Any, other_user: Any) -> None:
    make_generation(user, images=2, reference=True)  # stub rows: 100 bytes each, ref 10
    make_generation(other_user, images=1)
    Image.objects.filter(generation__user=user).update(thumbnail_bytes=7)
    use = storage_use(user)
    assert (use.originals, use.thumbnails, use.references, use.total) == (200, 14, 10, 224)


@pytest.mark.django_db(transaction=True)  # the async API reads the key on another connection
def test_the_api_refuses_a_request_over_the_cap_before_spending_quota(
    user: Any, settings: Any
) -> None:
    settings.DARKROOM_STORAGE_CAP_MB = 1
    _fill(user, 1.2)
    key = api_key_issue(user=user, name="k")[1]
    response = Client().post(
        "/v1/images/generations",
        {"model": FLUX_DEV, "prompt": "a fox"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", "Prefer": "respond-async"},
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "insufficient_quota",
        "storage_full",
        None,
    )
    assert "1.2 MB of 1.0 MB" in error["message"]
    assert "Delete images" in error["message"]
    assert Generation.objects.filter(user=user).count() == 1  # only the filler
    status = quota_status(user=user, model=FLUX_DEV)
    assert (status.used, status.reserved) == (0, 0)


def test_references_that_would_overflow_the_cap_are_refused(
    user: Any, settings: Any, enqueued: list
) -> None:
    settings.DARKROOM_STORAGE_CAP_MB = 1
    _fill(user, 0.99)
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("generate"),
        {
            "model": FLUX_DEV,
            "prompt": "a fox",
            "n": "1",
            "image": SimpleUploadedFile("ref.png", _noise_png(600), "image/png"),
        },
    )
    page = response.content.decode()
    assert "Your storage is full" in page
    assert "Delete images you no longer need" in page
    assert Generation.objects.filter(user=user).count() == 1  # only the filler
    assert quota_status(user=user, model=FLUX_DEV).reserved == 0


def test_a_group_cap_and_room_let_requests_through(
    user: Any, settings: Any, enqueued: list
) -> None:
    settings.DARKROOM_STORAGE_CAP_MB = 1
    _fill(user, 1.5)
    roomy = Group.objects.create(name="roomy")
    GroupPolicy.objects.create(group=roomy, storage_cap_mb=10)
    user.groups.add(roomy)
    client = Client()
    client.force_login(user)
    client.post(reverse("generate"), {"model": FLUX_DEV, "prompt": "a fox", "n": "1"})
    assert Generation.objects.filter(user=user, prompt="a fox").count() == 1
    assert quota_status(user=user, model=FLUX_DEV).reserved == 1


def test_people_and_staff_see_storage_use(admin_client: Client, user: Any, settings: Any) -> None:
    settings.DARKROOM_STORAGE_CAP_MB = 10
    _fill(user, 2.5)
    client = Client()
    client.force_login(user)
    page = client.get(reverse("my_data")).content.decode()
    assert "You use 2.5" in page
    assert "of 10.0" in page
    assert "(25%)" in page
    people = admin_client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert "2.5\xa0MB" in people
