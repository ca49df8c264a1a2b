"""Chat completions with an image model (seed 003, "Flux (Chat)"), synchronous.

`POST {base}/v1/chat/completions` `{"model", "messages": [{"role": "user", "content": ...}]}`.
The picture comes back inside `choices[0].message.content`: a markdown image
`![...](link)`, a bare link, or a `data:image/...;base64,` URL. For
image-to-image the reference travels in the message, as the documents show:
its link first, then the prompt (`content` is a plain string there). We hold
references as bytes, so the link is a data URL.

The chat format has no field for size, steps, seed or guidance: those are
dropped. It makes one picture per call, so n > 1 goes to another channel.
"""

from __future__ import annotations

import re
from typing import Any

from providers.base import Completed, Provider, ProviderError, ProviderRequest, ResultImage
from providers.http import json_body, send
from providers.wire import bearer, decode_b64_image, error_from_response, is_moderation

_MARKDOWN = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?[^)]*\)")
_DATA_URL = re.compile(r"data:image/[a-zA-Z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+")
_LINK = re.compile(r"https?://[^\s)\]>\"']+")


class ChatProvider(Provider):
    format = "chat"

    def unsupported(self, request: ProviderRequest) -> str | None:
        if int(request.params.get("n", 1)) > 1:
            return "a chat completion carries one picture"
        if request.images.get("mask"):
            return "the chat format takes no mask"
        return None

    def submit(self, request: ProviderRequest) -> Completed:
        body = {
            "model": self.channel.upstream_model,
            "messages": [{"role": "user", "content": self.content(request)}],
            "stream": False,
        }
        response = send(
            "POST",
            f"{self.channel.base_url}/v1/chat/completions",
            timeout=self.channel.timeout,
            json=body,
            headers=bearer(self.channel),
        )
        if response.status_code != 200:
            raise error_from_response(response)
        return parse_reply(json_body(response))

    def content(self, request: ProviderRequest) -> str:
        refs = [*request.images.get("image", []), *request.images.get("images", [])]
        return "\n".join([*(ref.data_url() for ref in refs), request.prompt])


def parse_reply(body: Any) -> Completed:
    try:
        choice = body["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ProviderError(
            "upstream sent no chat message", code="upstream_bad_response", retryable=True
        ) from None
    if choice.get("finish_reason") == "content_filter":
        raise ProviderError(
            "the upstream safety system refused this request",
            code="moderation_blocked",
            retryable=False,
        )
    images = find_images(content if isinstance(content, str) else "")
    if images:
        return Completed(images=images, upstream_id=str(body.get("id") or ""))
    said = (content or "").strip()[:300] if isinstance(content, str) else ""
    if is_moderation(said):
        raise ProviderError(
            f"the upstream safety system refused this request: {said}",
            code="moderation_blocked",
            retryable=False,
        )
    # A reply in words only: the model declined or misunderstood; another try may draw.
    raise ProviderError(
        f"upstream replied without a picture: {said or '(empty)'}",
        code="upstream_no_image",
        retryable=True,
    )


def find_images(content: str) -> list[ResultImage]:
    """Every picture in a reply, in order: markdown images, then bare links and data URLs."""
    found: list[str] = [m.group(1) for m in _MARKDOWN.finditer(content)]
    rest = _MARKDOWN.sub(" ", content)
    found += [m.group(0) for m in _DATA_URL.finditer(rest)]
    found += [m.group(0).rstrip(".,;") for m in _LINK.finditer(_DATA_URL.sub(" ", rest))]
    images: list[ResultImage] = []
    for item in dict.fromkeys(found):
        if item.startswith("data:"):
            images.append(ResultImage(data=decode_b64_image(re.sub(r"\s+", "", item))))
        elif item.startswith(("http://", "https://")):
            images.append(ResultImage(url=item))
    return images
