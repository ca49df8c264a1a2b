"""Images go through Django's storage API, so S3 works by configuration alone."""

from __future__ import annotations

import re
from typing import Any

import pytest

from generations.models import Generation
from generations.results import add_thumbnails, store_images
from tests.images import png_bytes

moto = pytest.importorskip("moto", reason="moto (dev extra) fakes S3 in-process")
pytestmark = pytest.mark.django_db


def test_result_images_land_in_a_private_bucket(settings: Any, user: Any) -> None:
    import boto3

    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="darkroom-test")
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": "darkroom-test",
                    "region_name": "us-east-1",
                    "default_acl": "private",
                    "querystring_auth": True,
                    "querystring_expire": 300,
                    "file_overwrite": False,
                },
            },
        }
        generation = Generation.objects.create(user=user, model="black-forest-labs/flux.1-dev")
        [image] = store_images(generation, [png_bytes(64, 64)])
        image.save()
        add_thumbnails([image])

        keys = [
            o["Key"]
            for o in boto3.client("s3", region_name="us-east-1").list_objects_v2(
                Bucket="darkroom-test"
            )["Contents"]
        ]
        assert image.file.name in keys
        assert image.thumbnail.name in keys
        assert re.fullmatch(r"images/[0-9a-f]{2}/[0-9a-f]{32}\.png", image.file.name)
        url = image.file.url
        assert "Signature=" in url
        assert "Expires" in url
