"""OpenAI-compatible synchronous images API (ModelVerse; seeds 000-002).

`POST {base}/v1/images/generations`, bearer key, JSON. Quirks honoured:
- `b64_json` may carry a `data:image/...;base64,` prefix (seed 000), unlike OpenAI.
- the error envelope puts the upstream *request id* in `param`, not a field name.
- reference images travel inside the JSON: `image` as one URL/data URL, `images`
  as a list of them (kontext /multi).
"""

from __future__ import annotations

from typing import Any

import httpx

from .base import Completed, Provider, ProviderError, ProviderRequest, ResultImage
from .http import json_body, retry_after, send

# Our public parameters that this format sends as they are.
PASSTHROUGH = (
    "n",
    "size",
    "strength",
    "aspect_ratio",
    "steps",
    "seed",
    "guidance_scale",
    "negative_prompt",
)
MODERATION_CODES = {"content_policy_violation", "moderation_blocked", "content_filter", "sensitive"}


class OpenAIImagesProvider(Provider):
    format = "openai_images"

    def submit(self, request: ProviderRequest) -> Completed:
        response = send(
            "POST",
            f"{self.channel.base_url}/v1/images/generations",
            timeout=self.channel.timeout,
            json=self.payload(request),
            headers={"Authorization": f"Bearer {self.channel.api_key}"},
        )
        if response.status_code != 200:
            raise error_from_response(response)
        return parse_images_response(json_body(response))

    def payload(self, request: ProviderRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.channel.upstream_model, "prompt": request.prompt}
        body.update({k: request.params[k] for k in PASSTHROUGH if k in request.params})
        if request.images.get("image"):
            body["image"] = request.images["image"][0].data_url()
        if request.images.get("images"):
            body["images"] = [img.data_url() for img in request.images["images"]]
        body["response_format"] = self.channel.options.get("response_format", "url")
        return body


def parse_images_response(body: Any) -> Completed:
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ProviderError(
            "upstream reply has no images", code="upstream_bad_response", retryable=True
        )
    images = []
    for item in items:
        if isinstance(item, dict) and item.get("b64_json"):
            images.append(ResultImage(data=_decode_b64(item["b64_json"])))
        elif isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"]:
            images.append(ResultImage(url=item["url"]))
        else:
            raise ProviderError(
                "upstream image has neither url nor b64_json",
                code="upstream_bad_response",
                retryable=True,
            )
    return Completed(images=images)


def _decode_b64(value: str) -> bytes:
    from common.errors import InvalidRequest
    from common.images import decode_base64_image

    try:
        return decode_base64_image(value, param="b64_json")
    except InvalidRequest as exc:
        raise ProviderError(
            f"upstream sent undecodable image data: {exc.message}",
            code="upstream_bad_response",
            retryable=True,
        ) from exc


def error_from_response(response: httpx.Response) -> ProviderError:
    """Map an upstream error status (and its envelope, when there is one) to our words."""
    status = response.status_code
    upstream_code, message = _envelope(response)
    detail = f" ({message})" if message else ""
    if upstream_code in MODERATION_CODES:
        return ProviderError(
            f"the upstream safety system refused this request{detail}",
            code="moderation_blocked",
            retryable=False,
            status=status,
        )
    if status == 429:
        return ProviderError(
            f"upstream is rate limiting{detail}",
            code="upstream_rate_limited",
            retryable=True,
            status=status,
            retry_after=retry_after(response),
        )
    if status in (408, 409) or status >= 500:
        return ProviderError(
            f"upstream failed with HTTP {status}{detail}",
            code="upstream_unavailable",
            retryable=True,
            status=status,
            retry_after=retry_after(response),
        )
    if status in (401, 403):
        return ProviderError(
            f"upstream refused the channel's key (HTTP {status}){detail}",
            code="upstream_auth_failed",
            retryable=False,
            status=status,
        )
    if status == 404:
        return ProviderError(
            f"upstream does not know this model{detail}",
            code="upstream_not_found",
            retryable=False,
            status=status,
        )
    return ProviderError(
        f"upstream rejected the request (HTTP {status}){detail}",
        code="invalid_request",
        retryable=False,
        status=status,
    )


def _envelope(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", str(error)[:300]
    return str(error.get("code") or ""), str(error.get("message") or "")[:300]
