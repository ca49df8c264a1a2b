"""The reseller's chat completions with a Flux model (seed 003, "Flux (Chat)").

`POST /v1/chat/completions` `{"model", "messages": [...]}`: the last user message
is the request. Its content (a string, or OpenAI's list of text/image_url parts)
holds the prompt and, for image-to-image, reference links (data URLs are decoded;
http links are recorded, never fetched). The answer is a `chat.completion` whose
assistant message carries the picture as the server's `chat_reply` config says:
`markdown` (`![image](link)`, the default), `bare` (a sentence with the link) or
`data` (a markdown image whose link is a data URL). One picture per call.
Errors are OpenAI's envelope; unknown models are 404 `model_not_found`.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from typing import Any

from simulator import fields, images
from simulator.core import Format, Response, Route, SimRequest, json_response, openai_error, route

MODELS = frozenset(
    {"flux-dev", "flux-schnell", "flux-pro", "flux-1.1-pro", "flux-kontext-pro", "flux-kontext-max"}
)
_REF = re.compile(r"data:image/[a-zA-Z0-9.+-]+;base64,[A-Za-z0-9+/=]+|https?://\S+")


class ChatFormat(Format):
    name = "chat"
    link_ttl = 7 * 24 * 3600.0

    def routes(self) -> list[Route]:
        return [route("POST", r"/v1/chat/completions", self.complete)]

    def error(
        self, req: SimRequest, status: int, message: str, *, code: str, type: str = ""
    ) -> Response:
        return openai_error(status, message, code=code, type=type or "error")

    def prompt_of(self, req: SimRequest) -> str | None:
        return _message(req.json)

    def complete(self, req: SimRequest) -> Response:
        body = req.json
        if req.json_error or not isinstance(body, dict):
            return self.error(req, 400, req.json_error or "body must be JSON", code="invalid_json")
        model = body.get("model")
        if model not in MODELS:
            return self.error(
                req,
                404,
                f"The model `{model}` does not exist.",
                code="model_not_found",
                type="invalid_request_error",
            )
        content = _message(body)
        if content is None:
            return self.error(
                req,
                400,
                "messages must end with a user message",
                code="invalid_parameter",
                type="invalid_request_error",
            )
        try:
            refs = [fields.image(m.group(0), "messages") for m in _REF.finditer(content)]
        except fields.Invalid as exc:
            return self.error(req, 400, exc.message, code=exc.code, type="invalid_request_error")
        prompt = _REF.sub(" ", content).strip()
        if not prompt:
            return self.error(
                req,
                400,
                "the message has no prompt",
                code="invalid_parameter",
                type="invalid_request_error",
            )
        req.note("prompt", prompt)
        if refs:
            req.note("references", [fields.summary(r) for r in refs])
        return json_response(200, self._completion(req, str(model), prompt, refs))

    def _completion(
        self, req: SimRequest, model: str, prompt: str, refs: list[images.DecodedImage | str]
    ) -> dict[str, Any]:
        decoded = [r for r in refs if isinstance(r, images.DecodedImage)]
        width, height = (
            images.fit_megapixel(decoded[0].width, decoded[0].height) if decoded else (1024, 1024)
        )
        seed = images.random_seed()
        req.note("size", f"{width}x{height}")
        png = images.render_png(
            prompt=prompt,
            seed=seed,
            width=width,
            height=height,
            reference=decoded[0] if decoded else None,
        )
        style = self.sim.config["chat_reply"]
        if style == "data":
            text = f"![image](data:image/png;base64,{base64.b64encode(png).decode()})"
        else:
            link = self.sim.publish(req, png, ttl=self.link_ttl)
            text = (
                f"![image]({link})"
                if style == "markdown"
                else f"Here is your picture: {link} Enjoy!"
            )
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": 1,
                "total_tokens": len(prompt.split()) + 1,
            },
        }


def _message(body: Any) -> str | None:
    """The last user message's content as one string (text parts and image links)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    last = messages[-1]
    if last.get("role") != "user":
        return None
    content = last.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "image_url":
                url = part.get("image_url")
                parts.append(str(url.get("url", "") if isinstance(url, dict) else url))
        return "\n".join(parts)
    return None
