"""bench/p3_gallery.py makes its 100k rows with raw SQL: keep it in step with the schema.

A column added without a database default breaks that SQL, and only the next person
to run the benchmark would find out; here the same statements fill a small gallery.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from bench.p3_gallery import MODELS, ensure_person, page_40_url
from generations.models import Generation, Image

pytestmark = pytest.mark.django_db


def test_the_p3_seed_makes_a_gallery_the_portal_pages_through(client: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the seed SQL is PostgreSQL's (gen_random_uuid, generate_series)")
    user = ensure_person(1_000)
    assert Generation.objects.filter(user=user).count() == 1_000
    assert Image.objects.filter(generation__user=user).count() == 980  # 1 in 50 failed
    client.force_login(user)
    assert client.get(reverse("gallery"), {"model": MODELS[2]}).status_code == 200
    assert "page=40" in page_40_url(client)  # 39 "load more" links followed
