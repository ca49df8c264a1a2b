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

from providers.base import ProviderRequest
from providers.openai_images import OpenAIImagesProvider
from providers.wire import ratio_size


class DalleProvider(OpenAIImagesProvider):
    """OpenAI's images call on the same path; only the payload differs."""

    format = "dalle"

    def unsupported(self, request: ProviderRequest) -> str | None:
        if request.images:
            return "the DALL-E format has no field for reference images"
        return None

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
