"""S3 through an S3-speaking server over HTTP (moto_server, its own process)."""

from __future__ import annotations

from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client
from PIL import Image as PILImage

from generations.models import Generation, Image
from generations.portal import services as portal_services
from generations.results import add_thumbnails, store_images
from tests.images import png_bytes
from tests.servers import BUCKET, S3Server

pytestmark = pytest.mark.django_db

DEV = "black-forest-labs/flux.1-dev"


@pytest.fixture
def on_s3(s3_server: S3Server, settings: Any) -> S3Server:
    settings.STORAGE_BACKEND = "s3"
    settings.STORAGES = {**settings.STORAGES, "default": s3_server.storage_settings()}
    return s3_server  # Django resets its storage handler when STORAGES changes


def _stored(user: Any, size: int = 640) -> Image:
    generation = Generation.objects.create(user=user, model=DEV, status="succeeded")
    [image] = store_images(generation, [png_bytes(size, size // 2)])
    image.save()
    add_thumbnails([image])  # made after the answer, as the worker does
    return image


def test_images_and_thumbnails_are_private_objects_in_the_bucket(
    on_s3: S3Server, user: Any
) -> None:
    image = _stored(user)
    assert {image.file.name, image.thumbnail.name} <= on_s3.keys()
    for key in (image.file.name, image.thumbnail.name):
        grants = on_s3.client().get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
        grantees = {g["Grantee"].get("URI", "") for g in grants}
        assert not any("AllUsers" in uri or "AuthenticatedUsers" in uri for uri in grantees)


def test_a_signed_url_serves_the_original_and_the_thumbnail_is_small(
    on_s3: S3Server, user: Any
) -> None:
    image = _stored(user, size=1024)
    url = image.file.url
    assert "Signature=" in url
    assert "Expires=" in url
    original = httpx.get(url, timeout=10)
    assert original.status_code == 200
    assert original.content.startswith(b"\x89PNG")
    thumb = httpx.get(image.thumbnail.url, timeout=10)
    with PILImage.open(BytesIO(thumb.content)) as opened:
        assert opened.format == "WEBP"
        assert max(opened.size) <= 384


def test_the_portal_redirects_to_a_signed_url_made_for_the_public_address(
    on_s3: S3Server, settings: Any, client: Client, user: Any
) -> None:
    public = on_s3.url.replace("127.0.0.1", "localhost")
    settings.STORAGES = {**settings.STORAGES, "default": on_s3.storage_settings(public)}
    image = _stored(user)
    client.force_login(user)
    response = client.get(f"/images/{image.pk}/original/")
    assert response.status_code == 302
    target = response["Location"]
    assert urlsplit(target).netloc == urlsplit(public).netloc
    assert "Signature=" in target
    assert httpx.get(target, timeout=10).content.startswith(b"\x89PNG")


def test_deleting_an_image_removes_both_objects(
    on_s3: S3Server, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    keep, gone = _stored(user), _stored(user)
    with django_capture_on_commit_callbacks(execute=True):
        assert portal_services.images_delete(user=user, image_ids=[gone.pk]) == 1
    keys = on_s3.keys()
    assert gone.file.name not in keys
    assert gone.thumbnail.name not in keys
    assert {keep.file.name, keep.thumbnail.name} <= keys


def test_readyz_reports_the_store_gone(on_s3: S3Server, client: Client) -> None:
    from config.ops import health

    assert "storage" not in client.get("/readyz").json()["failed"]
    on_s3.proc.kill()
    on_s3.proc.wait()
    health.forget()  # the next round of checks, without waiting out the cached one
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "storage" in response.json()["failed"]
