"""One size pattern and one nearest-ratio rule, shared by the API and every adapter."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from common.sizes import ASPECT_RATIOS, match_size, nearest_ratio
from generations.api.mapping import model_inputs
from generations.api.serializers import ImageCall
from providers.base import ChannelConfig, ProviderRequest
from providers.bfl import BFLProvider
from providers.catalog import get_catalog
from providers.openai_edits import OpenAIEditsProvider
from providers.replicate import ReplicateProvider
from providers.wire import RATIO_SIZES

RATIO_MODEL = "black-forest-labs/flux-kontext-pro/text-to-image"  # takes aspect_ratio, no size
SIDES = range(256, 2049, 32)
SIZES = [(w, h) for w in SIDES for h in SIDES]


def _channel(fmt: str, upstream: str) -> ChannelConfig:
    return ChannelConfig("c", fmt, "https://up.example", "k", upstream)


def _request(size: str) -> ProviderRequest:
    return ProviderRequest(prompt="p", params={"size": size})


ADAPTERS: dict[str, Callable[[str], str]] = {
    # What each adapter that turns a size into a ratio sends as aspect_ratio.
    "openai_edits": lambda size: OpenAIEditsProvider(
        _channel("openai_edits", "flux-kontext-pro")
    ).fields(_request(size))["aspect_ratio"],
    "bfl ultra": lambda size: BFLProvider(_channel("bfl", "flux-pro-1.1-ultra")).payload(
        _request(size)
    )["aspect_ratio"],
    "replicate": lambda size: ReplicateProvider(_channel("replicate", "flux-schnell")).input(
        _request(size)
    )["aspect_ratio"],
}


def _api_ratio(size: str) -> str:
    spec = get_catalog().get(RATIO_MODEL)
    assert spec is not None
    params, _images = model_inputs(ImageCall(RATIO_MODEL, "p", {"size": size}), spec)
    return str(params["aspect_ratio"])


def test_the_api_and_every_adapter_map_each_of_3249_sizes_to_the_same_ratio() -> None:
    assert len(SIZES) == 3249
    disagree = []
    for width, height in SIZES:
        size = f"{width}x{height}"
        api = _api_ratio(size)
        sent = {name: ratio(size) for name, ratio in ADAPTERS.items()}
        if set(sent.values()) != {api}:
            disagree.append((size, api, sent))
    assert disagree == []


def test_a_size_and_its_transpose_get_transposed_ratios() -> None:
    flipped = {r: ":".join(reversed(r.split(":"))) for r in ASPECT_RATIOS}
    wrong = [(w, h) for w, h in SIZES if nearest_ratio(h, w) != flipped[nearest_ratio(w, h)]]
    assert wrong == []


@pytest.mark.parametrize(
    ("width", "height", "ratio"),
    [
        (416, 480, "1:1"),
        (480, 416, "1:1"),
        (384, 512, "3:4"),
        (1344, 768, "16:9"),
        (2048, 256, "21:9"),
    ],
)
def test_it_picks_the_nearest_ratio_in_log_space(width: int, height: int, ratio: str) -> None:
    assert nearest_ratio(width, height) == ratio


def test_every_listed_ratio_has_its_upstream_render_size() -> None:
    assert tuple(RATIO_SIZES) == ASPECT_RATIOS


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1024x768", (1024, 768)),
        (" 512 X 512 ", (512, 512)),
        ("640\u00d7480", (640, 480)),
        ("8*8", (8, 8)),
        ("1024", None),
        ("axb", None),
        ("-1x5", None),
        (512, None),
    ],
)
def test_one_pattern_reads_every_spelling_of_a_size(text: object, parsed: object) -> None:
    assert match_size(text) == parsed
