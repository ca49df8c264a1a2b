"""The reseller's multipart edits endpoint (seed 003, "Flux (Dalle3 Edits)"), synchronous.

`POST {base}/v1/images/edits` as `multipart/form-data`: `prompt`, `model`
(flux-kontext-pro or flux-kontext-max only), `aspect_ratio`, and `image` parts,
several for Kontext's multi-reference; without an image it draws from text
alone. `size` is accepted upstream but "turned into a ratio" there, so we send
the ratio ourselves (the nearest of the nine). One picture per call; seed and
guidance have no field and are dropped. The reply is OpenAI's images answer.
"""

from __future__ import annotations

from typing import Any

from common.sizes import nearest_ratio, parse_size
from providers.base import Completed, Provider, ProviderRequest
from providers.http import json_body, send
from providers.openai_images import parse_images_response
from providers.wire import bearer, error_from_response


class OpenAIEditsProvider(Provider):
    format = "openai_edits"

    def unsupported(self, request: ProviderRequest) -> str | None:
        if int(request.params.get("n", 1)) > 1:
            return "the edits endpoint makes one picture per call"
        if request.images.get("mask"):
            return "Kontext edits take no mask"
        return None

    def submit(self, request: ProviderRequest) -> Completed:
        response = send(
            "POST",
            f"{self.channel.base_url}/v1/images/edits",
            timeout=self.channel.timeout,
            files=self.parts(request),
            headers=bearer(self.channel),
        )
        if response.status_code != 200:
            raise error_from_response(response)
        return parse_images_response(json_body(response))

    def fields(self, request: ProviderRequest) -> dict[str, Any]:
        params = request.params
        fields = {"model": self.channel.upstream_model, "prompt": request.prompt}
        if "aspect_ratio" in params:
            fields["aspect_ratio"] = params["aspect_ratio"]
        elif "size" in params:
            fields["aspect_ratio"] = nearest_ratio(*parse_size(params["size"]))
        return fields

    def parts(self, request: ProviderRequest) -> list[tuple[str, Any]]:
        # Every field as a part (filename None): with `data=` and no image, httpx
        # would send text-to-image url-encoded instead of multipart.
        parts: list[tuple[str, Any]] = [(k, (None, v)) for k, v in self.fields(request).items()]
        refs = [*request.images.get("image", []), *request.images.get("images", [])]
        parts += [
            ("image", (f"image-{i}.{ref.ext}", ref.data, ref.mime)) for i, ref in enumerate(refs)
        ]
        return parts
