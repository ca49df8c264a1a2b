"""OpenAI request fields -> the catalog parameters of one model.

OpenAI's vocabulary is not ours: `image` may hold several files, which our
multi-reference models call `images`; `size` is how OpenAI clients ask for a
shape, which some of our models take as `aspect_ratio`; and the SDK's
OpenAI-only hints (`quality`, `style`, ...) mean nothing to these models.
"""

from __future__ import annotations

from typing import Any

from common.errors import InvalidRequest
from common.sizes import match_size, nearest_ratio
from generations.api.serializers import ImageCall
from providers.catalog import ModelSpec

# Accepted so that OpenAI clients work unchanged, and ignored: these models
# have no such setting. (Documented on the API page.)
IGNORED_FIELDS = frozenset(
    {
        "user",
        "quality",
        "style",
        "background",
        "moderation",
        "output_format",
        "output_compression",
        "partial_images",
        "input_fidelity",
        "safety_identifier",
        "complexity",
    }
)


def model_inputs(call: ImageCall, spec: ModelSpec) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """(params, images) for generations.services.generation_create."""
    params = {k: v for k, v in call.fields.items() if k not in IGNORED_FIELDS and v is not None}
    if spec.param("n") is None and str(params.get("n", "")).strip() == "1":
        del params["n"]  # OpenAI clients often send n=1 to single-image models
    if "size" in params and spec.param("size") is None:
        _size_to_aspect_ratio(params, spec)
    return params, _images(call, spec)


def _images(call: ImageCall, spec: ModelSpec) -> dict[str, list[Any]]:
    images: dict[str, list[Any]] = {}
    if call.images:
        target = "images" if spec.param("images") is not None else "image"
        if target == "image" and len(call.images) > 1 and spec.param("image") is not None:
            raise InvalidRequest(
                f"The model {spec.name} takes one image; {len(call.images)} were given.",
                param="image",
                code="invalid_image_count",
            )
        images[target] = list(call.images)
    if call.mask is not None:
        images["mask"] = [call.mask]
    return images


def _size_to_aspect_ratio(params: dict[str, Any], spec: ModelSpec) -> None:
    size = params.pop("size")
    ratio_spec = spec.param("aspect_ratio")
    if str(size).strip().lower() in ("", "auto"):
        return
    if ratio_spec is None:
        params["size"] = size  # let validation say this model takes no size
        return
    parsed = match_size(str(size))
    if parsed is None or not all(parsed):
        raise InvalidRequest(
            f"'size' must look like 1024x1024; got {size!r}.", param="size", code="invalid_value"
        )
    if "aspect_ratio" not in params:
        params["aspect_ratio"] = nearest_ratio(*parsed, ratio_spec.choices)
