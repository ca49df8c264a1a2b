"""Chat completions with a Flux model: the picture is found in the assistant's words."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.quota import quota_set_limit, quota_status
from generations.models import Generation
from providers.base import ProviderError
from providers.chat import find_images, parse_reply
from simulator.server import SimulatorServer
from tests.images import png_bytes
from tests.upstreams import create, fixture, run_to_end, sent, sim_fixture  # noqa: F401

KMAX = "black-forest-labs/flux-kontext-max"
CH = "reseller-chat"


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["markdown", "bare", "data"])
def test_it_finds_the_picture_however_the_reply_words_it(
    sim: SimulatorServer, user: Any, enqueued: list, style: str
) -> None:
    sim.configure(chat_reply=style)
    quota_set_limit(user=user, model=KMAX, limit=5)
    generation = run_to_end(
        create(user, KMAX, prompt="put glasses on", images={"image": [png_bytes(120, 80)]}),
        channel=CH,
    )
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    image = generation.images.get()
    [call] = sent(sim, "/v1/chat/completions")
    assert (image.width, image.height) == tuple(map(int, call["notes"]["size"].split("x")))
    assert call["json"]["model"] == "flux-kontext-max"
    content = call["json"]["messages"][-1]["content"]
    # The reference travels in the message, its link first, then the prompt.
    assert content.startswith("data:image/png;base64,")
    assert content.endswith("\nput glasses on")
    assert call["notes"]["prompt"] == "put glasses on"
    assert set(call["json"]) == {"model", "messages", "stream"}  # no size/seed/guidance
    assert quota_status(user=user, model=KMAX).used == 1


def test_it_takes_a_markdown_image_once_even_with_a_download_link() -> None:
    outcome = parse_reply(fixture("chat", "markdown_and_link"))
    assert [i.url for i in outcome.images] == [
        "https://filesystem.site/cdn/20250623/a1.png",
        "https://filesystem.site/cdn/download/20250623/a1.png",
    ]
    assert find_images("done: https://x.example/a.png.")[0].url == "https://x.example/a.png"


def test_a_reply_refusing_in_words_is_a_moderation_failure() -> None:
    with pytest.raises(ProviderError) as caught:
        parse_reply(fixture("chat", "refusal"))
    assert (caught.value.code, caught.value.retryable) == ("moderation_blocked", False)


def test_a_reply_without_a_picture_may_be_tried_again() -> None:
    body = {
        "choices": [
            {
                "message": {"role": "assistant", "content": "Sure! Here it is."},
                "finish_reason": "stop",
            }
        ]
    }
    with pytest.raises(ProviderError) as caught:
        parse_reply(body)
    assert (caught.value.code, caught.value.retryable) == ("upstream_no_image", True)
