"""Parse /v1/images requests as the official SDK (and other clients) send them.

JSON bodies and multipart forms both end as one `ImageCall`. Values stay as sent
(multipart gives strings: "2", "true", "0.8"): the catalog's validation types them
and names the parameter when one is wrong. DRF serializers check the handful of
fields that are the API's own rather than the model's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from rest_framework import serializers

from common.errors import InvalidRequest

# Parts that carry input images: `image` (one or repeated), `image[]` (the SDK's
# list form), `images` (our multi-reference models, the JSON form).
IMAGE_FIELDS = ("image", "image[]", "images", "images[]")


OPTION_FIELDS = ("response_format", "stream", "webhook_url")
# The prompt library: a preset id and its slot values, resolved before the model's checks.
PRESET_FIELDS = ("preset", "preset_values")
# No field of an image request nests deeper than a few levels ({"images": [{"image_url":
# {"url": ...}}]}); a deeper body is refused before anything walks it recursively.
MAX_JSON_DEPTH = 32


class OptionsSerializer(serializers.Serializer):
    """Fields the API itself acts on; everything else goes to the model."""

    response_format = serializers.ChoiceField(
        choices=["url", "b64_json"], required=False, allow_null=True
    )
    stream = serializers.BooleanField(required=False, allow_null=True)
    webhook_url = serializers.URLField(
        required=False, allow_null=True, allow_blank=True, max_length=2000
    )


@dataclass(frozen=True)
class ImageCall:
    """An /v1/images request, parsed but not yet checked against a model."""

    model: Any
    prompt: Any
    fields: dict[str, Any]  # every other field, as sent
    images: list[Any] = field(default_factory=list)  # uploads, URLs or data: URLs
    mask: Any = None
    response_format: str = "url"
    stream: bool = False
    webhook_url: str = ""
    preset: Any = None
    preset_values: Any = None
    fingerprint: str = ""  # same request body -> same fingerprint (Idempotency-Key)


def parse_json(body: bytes, *, path: str) -> ImageCall:
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The request body is not valid JSON.", code="invalid_json") from None
    except RecursionError:  # the parser's own guard, far past MAX_JSON_DEPTH
        raise _too_deep() from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise _too_deep()
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    images = _json_images(data.pop("image", None), "image") + _json_images(
        data.pop("images", None), "images"
    )
    mask = _json_images(data.pop("mask", None), "mask")
    return _call(data, images, mask[0] if mask else None, path=path)


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value; iterative, so any depth."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, level)
        if level <= MAX_JSON_DEPTH:
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _too_deep() -> InvalidRequest:
    return InvalidRequest(
        f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.",
        code="invalid_json",
    )


def parse_multipart(
    post: QueryDict, files: MultiValueDict[str, UploadedFile], *, path: str
) -> ImageCall:
    data: dict[str, Any] = {}
    for key in post:
        if key in IMAGE_FIELDS or key == "mask":
            continue
        values = post.getlist(key)
        if key.endswith("[]"):
            data[key[:-2]] = values
        elif len(values) > 1:
            raise InvalidRequest(
                f"'{key}' was sent more than once.", param=key, code="invalid_value"
            )
        else:
            data[key] = values[0]
    images: list[Any] = []
    for name in IMAGE_FIELDS:
        images += files.getlist(name) + [v for v in post.getlist(name) if v.strip()]
    masks = files.getlist("mask") + [v for v in post.getlist("mask") if v.strip()]
    if len(masks) > 1:
        raise InvalidRequest("Send one mask.", param="mask", code="invalid_image_count")
    return _call(data, images, masks[0] if masks else None, path=path)


def _json_images(value: Any, param: str) -> list[Any]:
    """`"url"`, `["url", ...]`, `{"image_url": "url"}` or a list of those."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, dict):
            if "file_id" in item and not item.get("image_url"):
                raise InvalidRequest(
                    "File ids are not supported here; send the image as 'image_url' "
                    "(an https URL or a data: URL).",
                    param=param,
                    code="unsupported_value",
                )
            item = item.get("image_url") or item.get("url")
            if isinstance(item, dict):  # {"image_url": {"url": ...}} (chat style)
                item = item.get("url")
        if not isinstance(item, str) or not item.strip():
            raise InvalidRequest(
                f"'{param}' must be image URLs (https or data:), or objects with 'image_url'.",
                param=param,
                code="invalid_image",
            )
        out.append(item.strip())
    return out


def _call(data: dict[str, Any], images: list[Any], mask: Any, *, path: str) -> ImageCall:
    options = OptionsSerializer(data={k: data[k] for k in OPTION_FIELDS if k in data})
    if not options.is_valid():
        name, problems = next(iter(options.errors.items()))
        raise InvalidRequest(
            f"'{name}': {' '.join(str(p) for p in problems)}", param=name, code="invalid_value"
        )
    clean = options.validated_data
    skip = ("model", "prompt", *OPTION_FIELDS, *PRESET_FIELDS)
    fields = {k: v for k, v in data.items() if k not in skip}
    return ImageCall(
        model=data.get("model"),
        prompt=data.get("prompt"),
        fields=fields,
        images=images,
        mask=mask,
        response_format=clean.get("response_format") or "url",
        stream=bool(clean.get("stream")),
        webhook_url=clean.get("webhook_url") or "",
        preset=data.get("preset"),
        preset_values=data.get("preset_values"),
        fingerprint=_fingerprint(path, data, images, mask),
    )


def _fingerprint(path: str, data: dict[str, Any], images: list[Any], mask: Any) -> str:
    summary = {
        "path": path,
        "data": data,
        "images": [_digest(i) for i in images],
        "mask": _digest(mask) if mask is not None else None,
    }
    text = json.dumps(summary, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _digest(item: Any) -> str:
    if isinstance(item, str):
        return item
    hasher = hashlib.sha256()
    for chunk in item.chunks():
        hasher.update(chunk)
    item.seek(0)  # generation_create reads it again
    return hasher.hexdigest()
