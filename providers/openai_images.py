"""OpenAI-compatible synchronous images API (ModelVerse; seeds 000-002).

`POST {base}/v1/images/generations`, bearer key, JSON. Quirks honoured:
- `b64_json` may carry a `data:image/...;base64,` prefix (seed 000), unlike OpenAI.
- the error envelope puts the upstream *request id* in `param`, not a field name.
- reference images travel inside the JSON: `image` as one URL/data URL, `images`
  as a list of them (kontext /multi).
"""

from __future__ import annotations

from typing import Any

from providers.base import Completed, Provider, ProviderError, ProviderRequest, ResultImage
from providers.http import json_body, send
from providers.wire import bearer, decode_b64_image, error_from_response

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


class OpenAIImagesProvider(Provider):
    format = "openai_images"

    def submit(self, request: ProviderRequest) -> Completed:
        response = send(
            "POST",
            f"{self.channel.base_url}/v1/images/generations",
            timeout=self.channel.timeout,
            json=self.payload(request),
            headers=bearer(self.channel),
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
            images.append(ResultImage(data=decode_b64_image(item["b64_json"])))
        elif isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"]:
            images.append(ResultImage(url=item["url"]))
        else:
            raise ProviderError(
                "upstream image has neither url nor b64_json",
                code="upstream_bad_response",
                retryable=True,
            )
    return Completed(images=images)
