"""Tampered portal requests that once crashed a page: a 400 or 404 page, changing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.quota import quota_status
from generations.models import Generation, Image
from tests.images import png_bytes
from tests.portal_helpers import FLUX_DEV, make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


@pytest.mark.parametrize("action", ["zip", "delete"])
def test_a_selection_with_a_malformed_image_id_is_a_400_and_changes_nothing(
    signed_in: Any, user: Any, action: str
) -> None:
    image = make_generation(user, images=1).images.get()
    response = signed_in.post(
        reverse("images_bulk"), {"action": action, "image": [str(image.pk), "not-a-uuid"]}
    )
    assert response.status_code == 400
    assert Image.objects.filter(pk=image.pk).exists()


def test_reusing_a_malformed_job_id_is_a_404(signed_in: Any) -> None:
    response = signed_in.get(reverse("generate"), {"reuse": "not-a-uuid", "seed": "same"})
    assert response.status_code == 404


@pytest.mark.parametrize("number", ["99999999999999999999", str(2**63)])
def test_a_gallery_page_past_any_possible_one_is_a_404(signed_in: Any, number: str) -> None:
    assert signed_in.get(reverse("gallery"), {"page": number}).status_code == 404


@pytest.mark.parametrize("number", ["abc", "-3", "0", ""])
def test_a_meaningless_gallery_page_shows_the_first(signed_in: Any, user: Any, number: str) -> None:
    make_generation(user, prompt="a harbour at noon")
    response = signed_in.get(reverse("gallery"), {"page": number})
    assert response.status_code == 200
    assert b"a harbour at noon" in response.content


def test_a_prompt_with_a_nul_character_is_a_400_page_that_spends_nothing(
    signed_in: Any, user: Any, enqueued: list
) -> None:
    response = signed_in.post(
        reverse("generate"), {"model": FLUX_DEV, "prompt": "a kite\x00", "n": 1}
    )
    assert response.status_code == 400
    assert not Generation.objects.exists()
    assert enqueued == []
    assert quota_status(user=user, model=FLUX_DEV).reserved == 0


def test_a_form_with_101_files_is_a_400_that_spends_nothing(
    signed_in: Any, user: Any, enqueued: list
) -> None:
    files = [SimpleUploadedFile(f"{i}.png", png_bytes(8, 8)) for i in range(101)]
    response = signed_in.post(
        reverse("generate"), {"model": FLUX_DEV, "prompt": "a kite", "image": files}
    )
    assert response.status_code == 400
    assert not Generation.objects.exists()
    assert enqueued == []


MULTI = "black-forest-labs/flux-kontext-pro/multi"  # takes reference images


@pytest.mark.parametrize("ref", ["²", "1" * 30, "-1", "99999"])
def test_reusing_a_reference_that_is_not_there_is_a_form_error_that_spends_nothing(
    signed_in: Any, user: Any, enqueued: list, ref: str
) -> None:
    """ "²" passes str.isdigit(); 30 digits overflow a bigint: each once crashed the page
    (SQLite) or ran and charged the job without the picture the person meant (PostgreSQL)."""
    kept = make_generation(user, reference=True).references.get()
    before = Generation.objects.count()
    response = signed_in.post(
        reverse("generate"), {"model": MULTI, "prompt": "a kite", "ref": [str(kept.pk), ref]}
    )
    assert response.status_code == 400
    assert b"A reference image you picked is no longer available" in response.content
    assert Generation.objects.count() == before
    assert enqueued == []
    assert quota_status(user=user, model=MULTI).reserved == 0


def test_reusing_someone_elses_reference_is_refused_not_dropped(
    signed_in: Any, user: Any, other_user: Any, enqueued: list
) -> None:
    theirs = make_generation(other_user, reference=True).references.get()
    response = signed_in.post(
        reverse("generate"), {"model": MULTI, "prompt": "a kite", "ref": [str(theirs.pk)]}
    )
    assert response.status_code == 400
    assert not Generation.objects.filter(user=user).exists()
    assert enqueued == []
