"""The official openai SDK, unchanged, using a preset through `extra_body`.

The SDK talks to this process's Django over WSGI (httpx's transport); the job is
finished where it would be published, so the SDK gets its answer without a worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from django.contrib.auth.models import Group
from django.core.wsgi import get_wsgi_application
from openai import OpenAI

from accounts.api_keys import api_key_issue
from generations.models import Generation, Image
from generations.services import generation_succeed
from presets.services import preset_create
from tests.images import png_bytes

DEV = "black-forest-labs/flux.1-dev"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finish_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    def publish(generation_id: Any, **kwargs: Any) -> bool:
        generation = Generation.objects.get(pk=generation_id)
        generation_succeed(generation=generation, images=[png_bytes(64, 48)], channel="test")
        return True

    monkeypatch.setattr("generations.publishing.publish", publish)


@pytest.fixture
def member(django_user_model: Any) -> Iterator[tuple[Any, OpenAI]]:
    """bob, in the group a preset is shared with, and an SDK client with his key."""
    group = Group.objects.create(name="studio")
    owner = django_user_model.objects.create_user("alice", "a@example.com", "pw-1234567")
    bob = django_user_model.objects.create_user("bob", "b@example.com", "pw-1234567")
    group.user_set.add(owner, bob)
    preset_create(
        owner=owner,
        name="Product shot",
        model=DEV,
        params={"size": "512x384"},
        template="Product shot of {product} on {background}",
        shared_with=["studio"],
    )
    transport = httpx.WSGITransport(app=get_wsgi_application())
    with httpx.Client(transport=transport, base_url="http://testserver") as http:
        key = api_key_issue(user=bob, name="sdk")[1]
        yield bob, OpenAI(base_url="http://testserver/v1", api_key=key, http_client=http)


def test_it_generates_from_a_shared_preset_with_extra_body(
    member: tuple[Any, OpenAI], finish_jobs: None
) -> None:
    bob, client = member
    preset_id = client.get("/presets", cast_to=object)["data"][0]["id"]  # type: ignore[index]

    result = client.images.generate(
        prompt="",  # the SDK insists on one; empty means "the preset's"
        extra_body={
            "preset": preset_id,
            "preset_values": {"product": "a teapot", "background": "slate"},
        },
    )

    generation = Generation.objects.get(user=bob)
    assert (generation.model, generation.preset_id) == (DEV, preset_id)
    assert generation.prompt == "Product shot of a teapot on slate"
    assert generation.params["size"] == "512x384"
    image = Image.objects.get(generation=generation)
    assert [(item.model_extra or {})["id"] for item in result.data or []] == [str(image.pk)]


def test_it_names_a_missing_slot(member: tuple[Any, OpenAI], finish_jobs: None) -> None:
    _, client = member
    preset_id = client.get("/presets", cast_to=object)["data"][0]["id"]  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(
            prompt="", extra_body={"preset": preset_id, "preset_values": {"product": "x"}}
        )
    assert caught.value.body == {
        "message": "The preset's slot 'background' needs a value in 'preset_values'.",
        "type": "invalid_request_error",
        "param": "preset_values",
        "code": "missing_slot",
    }
    assert not Generation.objects.exists()
