"""Every rule the catalog states, checked before any quota is touched."""

from __future__ import annotations

from typing import Any

import pytest

from common.errors import InvalidRequest, ModelNotFound
from generations.validation import validate_request

DEV = "black-forest-labs/flux.1-dev"
KPRO = "black-forest-labs/flux-kontext-pro"
KPRO_MULTI = "black-forest-labs/flux-kontext-pro/multi"
KPRO_T2I = "black-forest-labs/flux-kontext-pro/text-to-image"
KMAX_T2I = "black-forest-labs/flux-kontext-max/text-to-image"
STEP = "stepfun-ai/step1x-edit"
IMG = "https://example.com/cat.png"


def _refusal(model: str = DEV, prompt: Any = "a cat", images: Any = None, **params: Any):
    with pytest.raises(InvalidRequest) as info:
        validate_request(model=model, prompt=prompt, params=params, images=images)
    return info.value


def test_it_fills_defaults_and_types_strings() -> None:
    clean = validate_request(
        model=DEV, prompt=" a cat ", params={"n": "2", "strength": "0.5", "size": "512x768"}
    )
    assert clean.prompt == "a cat"
    assert clean.params["n"] == 2
    assert clean.n == 2
    assert clean.params["strength"] == 0.5
    assert clean.params["size"] == "512x768"
    assert clean.params["steps"] == 28
    assert clean.params["guidance_scale"] == 2.5


def test_it_picks_a_concrete_seed_for_random() -> None:
    clean = validate_request(model=DEV, prompt="x", params={"seed": -1})
    assert 0 <= clean.params["seed"] < 2**31
    assert validate_request(model=DEV, prompt="x", params={"seed": 42}).params["seed"] == 42


def test_it_treats_null_as_absent() -> None:
    clean = validate_request(model=DEV, prompt="x", params={"n": None, "size": None})
    assert clean.params["n"] == 1
    assert clean.params["size"] == "1024x1024"


def test_it_rejects_an_unknown_model() -> None:
    with pytest.raises(ModelNotFound) as info:
        validate_request(model="acme/dreamer", prompt="x", params={})
    assert info.value.param == "model"
    assert info.value.status == 404


def test_it_rejects_a_missing_model() -> None:
    assert _refusal(model="").param == "model"


@pytest.mark.parametrize("prompt", [None, "", "   "])
def test_it_requires_a_prompt(prompt: Any) -> None:
    error = _refusal(prompt=prompt)
    assert error.param == "prompt"
    assert error.code == "missing_required_parameter"


def test_it_rejects_an_overlong_prompt() -> None:
    assert _refusal(prompt="x" * 4001).param == "prompt"


@pytest.mark.parametrize(
    ("model", "param"), [(KPRO, "image"), (STEP, "image"), (KPRO_MULTI, "images")]
)
def test_it_requires_the_reference_image_where_the_model_does(model: str, param: str) -> None:
    error = _refusal(model=model)
    assert error.param == param
    assert "required" in error.message


@pytest.mark.parametrize(
    ("model", "param", "value"),
    [
        (KPRO, "n", 2),  # kontext-pro edits one image
        (KPRO_T2I, "size", "512x512"),  # text-to-image takes aspect_ratio, not size
        (DEV, "aspect_ratio", "16:9"),
        (DEV, "negative_prompt", "blur"),
        (KPRO_T2I, "steps", 20),
        (DEV, "wings", 2),
    ],
)
def test_it_rejects_a_parameter_the_model_does_not_take(model: str, param: str, value: Any) -> None:
    error = _refusal(model=model, **{param: value})
    assert error.param == param
    assert error.code == "unknown_parameter"


def test_it_rejects_images_for_a_text_only_model() -> None:
    assert _refusal(model=KPRO_T2I, images={"image": [IMG]}).param == "image"


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("n", 0),
        ("n", 5),
        ("n", "two"),
        ("n", 1.5),
        ("n", True),
        ("size", "255x1024"),
        ("size", "1024x1537"),
        ("size", "big"),
        ("size", "1024"),
        ("strength", -0.1),
        ("strength", 1.01),
        ("strength", "nan"),
        ("guidance_scale", 0.99),
        ("guidance_scale", 10.5),
        ("seed", -2),
        ("seed", 10_000_000_000),
        ("steps", 0),
        ("steps", 51),
    ],
)
def test_it_rejects_out_of_range_values_naming_the_parameter(param: str, value: Any) -> None:
    error = _refusal(**{param: value})
    assert error.param == param
    assert param in error.message


def test_seed_accepts_the_documented_extremes() -> None:
    assert validate_request(model=DEV, prompt="x", params={"seed": 9999999999}).params["seed"] == (
        9999999999
    )


@pytest.mark.parametrize(
    "ratio", ["21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21"]
)
def test_it_accepts_every_documented_aspect_ratio(ratio: str) -> None:
    clean = validate_request(model=KPRO_T2I, prompt="x", params={"aspect_ratio": ratio})
    assert clean.params["aspect_ratio"] == ratio


def test_it_rejects_an_aspect_ratio_not_in_the_list() -> None:
    error = _refusal(model=KPRO_T2I, aspect_ratio="5:4")
    assert error.param == "aspect_ratio"
    assert "16:9" in error.message


def test_kontext_max_text_to_image_uses_its_own_steps_range() -> None:
    assert validate_request(model=KMAX_T2I, prompt="x", params={}).params["steps"] == 20
    assert _refusal(model=KMAX_T2I, steps=51).param == "steps"


def test_it_counts_reference_images() -> None:
    assert _refusal(model=KPRO, images={"image": [IMG, IMG]}).code == "invalid_image_count"
    assert _refusal(model=KPRO_MULTI, images={"images": [IMG] * 5}).param == "images"
    clean = validate_request(model=KPRO_MULTI, prompt="x", params={}, images={"images": [IMG] * 2})
    assert len(clean.images["images"]) == 2


def test_it_caps_images_per_request(settings: Any) -> None:
    settings.DARKROOM_MAX_REFERENCE_IMAGES = 2
    error = _refusal(model=KPRO_MULTI, images={"images": [IMG] * 3})
    assert error.code == "invalid_image_count"
    assert "at most 2" in error.message
