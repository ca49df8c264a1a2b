"""The API's signed image URLs: they work without a key until DARKROOM_API_URL_MAX_AGE after
the image was made, then they are a 404, like a URL whose signature was tampered with."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from generations.api.files import image_url
from generations.models import Image
from tests.portal_helpers import make_generation

# The file view reads the row on another thread (run_sync): the row must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def image(user: Any) -> Image:
    return make_generation(user).images.get()


def test_a_url_works_without_a_key_until_its_age_passes(
    client: Any, image: Image, settings: Any
) -> None:
    settings.DARKROOM_API_URL_MAX_AGE = 3600
    url = image_url(image, "")
    fresh = client.get(url)
    assert fresh.status_code == 200
    assert fresh["Content-Type"] == "image/png"

    Image.objects.filter(pk=image.pk).update(created_at=timezone.now() - timedelta(seconds=3601))
    expired = client.get(url)
    assert expired.status_code == 404
    assert expired.json()["error"]["code"] == "not_found"


def test_the_age_is_the_setting_not_a_fixed_year(client: Any, image: Image, settings: Any) -> None:
    Image.objects.filter(pk=image.pk).update(created_at=timezone.now() - timedelta(days=2))
    settings.DARKROOM_API_URL_MAX_AGE = 3 * 24 * 3600
    assert client.get(image_url(image, "")).status_code == 200
    settings.DARKROOM_API_URL_MAX_AGE = 24 * 3600
    assert client.get(image_url(image, "")).status_code == 404
