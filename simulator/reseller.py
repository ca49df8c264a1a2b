"""The reseller's OpenAI-style image endpoints (seed 003), synchronous.

- DALL-E format, `POST /v1/images/generations` `{"model": "flux-dev", "prompt", "size",
  "n", "response_format"}`. ModelVerse serves the same path: this route takes a
  request only when its model is one of the reseller's short names (`when=`).
  The picture comes at `size` (default 1024x1024); `b64_json` is bare base64, as
  OpenAI's. Fields it does not have (steps, seed...) are ignored and noted.
- Edits, `POST /v1/images/edits`, `multipart/form-data`: `prompt`, `model`
  (flux-kontext-pro or flux-kontext-max only), `aspect_ratio` (the nine), `size`
  (turned into the nearest ratio), and any number of `image` parts (multi-reference,
  up to 4). The picture comes at the ratio's ~1 megapixel size, else at the first
  reference's shape, else 1024x1024. One picture per call.
- Errors are OpenAI's envelope; result links live 7 days.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

from simulator import fields, images
from simulator.core import Format, Response, Route, SimRequest, json_response, openai_error, route

GENERATION_MODELS = frozenset(
    {"flux-dev", "flux-schnell", "flux-pro", "flux-1.1-pro", "flux-kontext-pro", "flux-kontext-max"}
)
EDIT_MODELS = frozenset({"flux-kontext-pro", "flux-kontext-max"})
GENERATION_FIELDS = frozenset({"model", "prompt", "size", "n", "response_format"})
EDIT_FIELDS = frozenset({"model", "prompt", "size", "aspect_ratio"})
MAX_REFERENCES = 4
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")


def _reseller_model(req: SimRequest) -> bool:
    return isinstance(req.json, dict) and req.json.get("model") in GENERATION_MODELS


class ResellerImagesFormat(Format):
    name = "reseller"
    link_ttl = 7 * 24 * 3600.0

    def routes(self) -> list[Route]:
        return [
            route("POST", r"/v1/images/generations", self.generate, when=_reseller_model),
            route("POST", r"/v1/images/edits", self.edit),
        ]

    def error(
        self, req: SimRequest, status: int, message: str, *, code: str, type: str = ""
    ) -> Response:
        return openai_error(status, message, code=code, type=type or "error")

    def model_of(self, req: SimRequest) -> str | None:
        if req.form:
            return next(iter(req.form.get("model", [])), None)
        return super().model_of(req)

    def prompt_of(self, req: SimRequest) -> str | None:
        if req.form:
            return next(iter(req.form.get("prompt", [])), None)
        return super().prompt_of(req)

    def generate(self, req: SimRequest) -> Response:
        body: dict[str, Any] = req.json
        ignored = sorted(set(body) - GENERATION_FIELDS)
        if ignored:
            req.note("ignored", ignored)
        try:
            prompt = fields.text(body, "prompt", required=True)
            width, height = _size(body.get("size") or "1024x1024")
            fields.integer(body, "n", 1, 4)
            fields.choice(body, "response_format", ("url", "b64_json"))
        except fields.Invalid as exc:
            return self._invalid(req, exc)
        width, height = req.deliver_size or (width, height)
        req.note("size", f"{width}x{height}")
        seed = images.random_seed()
        pngs = [
            images.render_png(prompt=prompt, seed=seed, width=width, height=height, index=i)
            for i in range(int(body.get("n") or 1))
        ]
        if body.get("response_format") == "b64_json":
            data = [{"b64_json": base64.b64encode(png).decode()} for png in pngs]
        else:
            data = [{"url": self.sim.publish(req, png, ttl=self.link_ttl)} for png in pngs]
        return json_response(200, {"created": int(time.time()), "data": data})

    def edit(self, req: SimRequest) -> Response:
        form = {k: v[0] for k, v in req.form.items() if v}
        ignored = sorted(set(form) - EDIT_FIELDS)
        if ignored:
            req.note("ignored", ignored)
        try:
            prompt = fields.text(form, "prompt", required=True)
            model = fields.text(form, "model", required=True)
            if model not in EDIT_MODELS:
                raise fields.Invalid(
                    "model",
                    "only flux-kontext-pro and flux-kontext-max edit",
                    "model_not_supported",
                )
            fields.choice(form, "aspect_ratio", frozenset(images.ASPECT_RATIO_SIZES))
            refs = self._references(req)
            width, height = _edit_size(form, refs)
        except fields.Invalid as exc:
            return self._invalid(req, exc)
        req.note("size", f"{width}x{height}")
        png = images.render_png(
            prompt=prompt,
            seed=images.random_seed(),
            width=width,
            height=height,
            reference=refs[0] if refs else None,
        )
        url = self.sim.publish(req, png, ttl=self.link_ttl)
        return json_response(200, {"created": int(time.time()), "data": [{"url": url}]})

    def _references(self, req: SimRequest) -> list[images.DecodedImage]:
        parts = [f for f in req.files if f.field in ("image", "image[]")]
        if len(parts) > MAX_REFERENCES:
            raise fields.Invalid("image", f"at most {MAX_REFERENCES} images")
        refs = []
        for part in parts:
            try:
                refs.append(images.decode_bytes(part.data, mime=part.content_type))
            except images.BadImage as exc:
                raise fields.Invalid("image", str(exc), "invalid_image") from exc
        if refs:
            req.note("references", [fields.summary(r) for r in refs])
        return refs

    def _invalid(self, req: SimRequest, exc: fields.Invalid) -> Response:
        return self.error(
            req, 400, f"{exc.field} {exc.message}", code=exc.code, type="invalid_request_error"
        )


def _size(raw: Any) -> tuple[int, int]:
    match = _SIZE.match(raw) if isinstance(raw, str) else None
    if not match or not all(256 <= int(v) <= 2048 for v in match.groups()):
        raise fields.Invalid("size", "must look like 1024x1024, each side 256..2048")
    return int(match[1]), int(match[2])


def _edit_size(form: dict[str, str], refs: list[images.DecodedImage]) -> tuple[int, int]:
    ratio = form.get("aspect_ratio")
    if ratio is None and form.get("size"):
        width, height = _size(form["size"])
        ratio = min(
            images.ASPECT_RATIO_SIZES,
            key=lambda r: abs((width / height) / (int(r.split(":")[0]) / int(r.split(":")[1])) - 1),
        )
    if ratio:
        return images.ASPECT_RATIO_SIZES[ratio]
    if refs:
        return images.fit_megapixel(refs[0].width, refs[0].height)
    return 1024, 1024
