"""Thumbnails come after an API job's answer, from the decode that checked the image;
a portal job (nobody waits on its answer, a person watches its card) is finished with
them; and a thumbnail that never got made is made when someone first asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from generations.dispatch import generation_run
from generations.models import Generation, Image
from generations.services import generation_create
from generations.signals import generation_finished
from simulator.server import SimulatorServer
from tests.portal_helpers import make_generation

DEV = "black-forest-labs/flux.1-dev"


@pytest.fixture
def sim(settings: Any) -> Iterator[SimulatorServer]:
    with SimulatorServer(host="127.0.0.1", port=0) as server:
        settings.DARKROOM_SIMULATOR_URL = server.url
        yield server


def _thumbnails_at_answer(generation: Generation) -> list[list[bool]]:
    """Run the job; for each answer, whether each of its images had its thumbnail stored."""
    at_answer: list[list[bool]] = []

    def answered(sender: Any, generation: Generation, **kwargs: Any) -> None:
        images = Image.objects.filter(generation=generation)
        at_answer.append(
            [bool(i.thumbnail) and i.thumbnail.storage.exists(i.thumbnail.name) for i in images]
        )

    generation_finished.connect(answered)
    try:
        generation_run(generation_id=generation.pk, channel_name="modelverse")
    finally:
        generation_finished.disconnect(answered)
    return at_answer


@pytest.mark.django_db(transaction=True)
def test_the_answer_goes_out_before_the_thumbnails_which_follow(
    sim: SimulatorServer, user: Any, enqueued: list[str]
) -> None:
    generation = generation_create(
        user=user, model=DEV, prompt="a fox", params={"n": 2}, source="api"
    )

    at_answer = _thumbnails_at_answer(generation)

    assert at_answer == [[False, False]]  # published as soon as the originals were stored
    images = list(Image.objects.filter(generation=generation))
    assert len(images) == 2
    assert all(i.thumbnail.name.endswith(".webp") for i in images)
    for image in images:
        assert image.thumbnail.storage.exists(image.thumbnail.name)


@pytest.mark.django_db(transaction=True)
def test_a_portal_job_is_finished_with_its_thumbnails(
    sim: SimulatorServer, user: Any, enqueued: list[str]
) -> None:
    generation = generation_create(
        user=user, model=DEV, prompt="a fox", params={"n": 2}, source="portal"
    )

    assert _thumbnails_at_answer(generation) == [[True, True]]
    image = Image.objects.filter(generation=generation).first()
    assert image is not None
    assert image.thumbnail_bytes == image.thumbnail.size  # counted in the storage use


@pytest.mark.django_db
def test_a_missing_thumbnail_is_made_on_first_view(client: Any, user: Any) -> None:
    image = make_generation(user).images.get()
    Image.objects.filter(pk=image.pk).update(thumbnail="")
    client.force_login(user)
    response = client.get(reverse("image_thumbnail", args=[image.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[8:12] == b"WEBP"
    image.refresh_from_db()
    assert image.thumbnail.name.endswith(".webp")


@pytest.mark.django_db
def test_an_original_that_cannot_be_thumbnailed_is_shown_itself(client: Any, user: Any) -> None:
    image = make_generation(user).images.get()
    image.file.save("image.png", ContentFile(b"not an image at all"), save=False)
    Image.objects.filter(pk=image.pk).update(thumbnail="", file=image.file.name)
    client.force_login(user)
    response = client.get(reverse("image_thumbnail", args=[image.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"not an image at all"
    image.refresh_from_db()
    assert not image.thumbnail
