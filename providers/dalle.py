"""The reseller's DALL-E format (seed 003, "Flux (Dall-e)"), synchronous.

`POST {base}/v1/images/generations` `{"model": "flux-dev", "prompt": "cat", "size": "512x1024"}`.
The same path as ModelVerse's, a different contract: the model is the reseller's
short name, and the documented fields are `prompt`, `model`, `size` (plus `n`,
as in OpenAI's DALL-E API). Our `aspect_ratio` becomes that ratio's ~1 megapixel
`size`; steps, seed, guidance and the like have no field here and are dropped.
The reply is OpenAI's `{"data": [{"url" | "b64_json"}]}`.
"""

from __future__ import annotations

from typing import Any

from .base import Completed, Provider, ProviderRequest
from .http import json_body, send
from .openai_images import parse_images_response
from .wire import bearer, error_from_response, ratio_size


class DalleProvider(Provider):
    format = "dalle"

    def unsupported(self, request: ProviderRequest) -> str | None:
        if request.images:
            return "the DALL-E format has no field for reference images"
        return None

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
        params = request.params
        body: dict[str, Any] = {"model": self.channel.upstream_model, "prompt": request.prompt}
        if "size" in params:
            body["size"] = params["size"]
        elif "aspect_ratio" in params:
            body["size"] = ratio_size(params["aspect_ratio"])
        if int(params.get("n", 1)) > 1:
            body["n"] = int(params["n"])
        return body
