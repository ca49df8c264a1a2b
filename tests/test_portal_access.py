"""One person can't list, view, download, change or delete another's generations or images."""

from __future__ import annotations

import zipfile
from io import BytesIO
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from generations.models import Image
from tests.portal_helpers import make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def bobs(other_user: Any) -> Any:
    return make_generation(other_user, images=2, prompt="bob's secret harbour", reference=True)


def _image_urls(image: Image) -> list[str]:
    return [
        reverse("image_detail", args=[image.pk]),
        reverse("image_file", args=[image.pk]),
        reverse("image_file", args=[image.pk]) + "?download=1",
        reverse("image_thumbnail", args=[image.pk]),
        reverse("generation_card", args=[image.generation_id]),
        reverse("generate") + f"?reuse={image.generation_id}&seed=same",
    ]


def test_it_sends_anonymous_visitors_to_sign_in(client: Any, bobs: Any) -> None:
    image = bobs.images.first()
    pages = [
        reverse("generate"),
        reverse("gallery"),
        reverse("generate_fields"),
        *_image_urls(image),
        reverse("reference_file", args=[bobs.references.first().pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    for url in [
        reverse("image_star", args=[image.pk]),
        reverse("image_delete", args=[image.pk]),
        reverse("images_bulk"),
    ]:
        assert client.post(url, {"image": [image.pk]}).status_code == 302
    assert Image.objects.filter(generation=bobs).count() == 2


def test_it_shows_the_sign_in_page_to_anyone(client: Any) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_it_gives_404_for_another_persons_images(client: Any, user: Any, bobs: Any) -> None:
    client.force_login(user)
    image = bobs.images.first()
    for url in _image_urls(image):
        assert client.get(url).status_code == 404, url
    reference = bobs.references.first()
    assert client.get(reverse("reference_file", args=[reference.pk])).status_code == 404


def test_it_leaves_out_another_persons_generations_from_the_gallery(
    client: Any, user: Any, bobs: Any
) -> None:
    mine = make_generation(user, prompt="my own lighthouse")
    client.force_login(user)
    body = client.get(reverse("gallery")).content.decode()
    assert "my own lighthouse" in body
    assert "secret harbour" not in body
    assert str(bobs.images.first().pk) not in body
    assert str(mine.images.first().pk) in body
    # ...nor from the generate page's recent jobs, nor with "everyone" asked for
    assert "secret harbour" not in client.get(reverse("generate")).content.decode()
    assert "secret harbour" not in client.get(reverse("gallery") + "?everyone=on").content.decode()


def test_it_cannot_star_or_delete_another_persons_images(client: Any, user: Any, bobs: Any) -> None:
    client.force_login(user)
    image = bobs.images.first()
    assert client.post(reverse("image_star", args=[image.pk]), {"starred": "1"}).status_code == 404
    assert client.post(reverse("image_delete", args=[image.pk])).status_code == 404
    client.post(reverse("images_bulk"), {"action": "delete", "image": [image.pk]})
    image.refresh_from_db()
    assert image.starred is False
    assert image.file.storage.exists(image.file.name)
    assert Image.objects.filter(generation=bobs).count() == 2


def test_it_zips_only_ones_own_images(client: Any, user: Any, bobs: Any) -> None:
    mine = make_generation(user).images.first()
    client.force_login(user)
    response = client.post(
        reverse("images_bulk"),
        {"action": "zip", "image": [mine.pk, *bobs.images.values_list("pk", flat=True)]},
    )
    archive = zipfile.ZipFile(BytesIO(b"".join(response.streaming_content)))
    assert len(archive.namelist()) == 1
    assert str(mine.pk)[:8] in archive.namelist()[0]


def test_it_lets_staff_see_everyones_images(client: Any, django_user_model: Any, bobs: Any) -> None:
    # As far as their permissions go (tests/test_staff_permissions.py has the rest).
    staff = django_user_model.objects.create_user("carol", "carol@example.com", "pw", is_staff=True)
    codenames = ["view_generation", "view_image", "view_referenceimage"]
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(staff)
    image = bobs.images.first()
    for url in _image_urls(image):
        assert client.get(url).status_code == 200, url
    assert "secret harbour" not in client.get(reverse("gallery")).content.decode()
    assert "secret harbour" in client.get(reverse("gallery") + "?everyone=on").content.decode()


def test_it_hands_out_short_lived_signed_urls_from_s3_only_to_the_owner(
    client: Any, settings: Any, user: Any, other_user: Any
) -> None:
    moto = pytest.importorskip("moto", reason="moto (dev extra) fakes S3 in-process")
    import boto3

    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="darkroom-portal")
        settings.STORAGE_BACKEND = "s3"
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": "darkroom-portal",
                    "region_name": "us-east-1",
                    "default_acl": "private",
                    "querystring_auth": True,
                    "querystring_expire": 300,
                },
            },
        }
        image = make_generation(user).images.get()
        client.force_login(user)
        response = client.get(reverse("image_file", args=[image.pk]))
        assert response.status_code == 302
        assert "Signature=" in response["Location"]
        assert "Expires=" in response["Location"]
        assert image.file.name in response["Location"]
        gallery = client.get(reverse("gallery")).content.decode()
        assert image.thumbnail.name in gallery
        assert image.file.name not in gallery

        client.force_login(other_user)
        response = client.get(reverse("image_file", args=[image.pk]))
        assert response.status_code == 404
        assert image.file.name not in response.content.decode()
