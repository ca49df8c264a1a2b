"""ModelVerse's OpenAI-compatible images API (seeds 000-002), quirks included.

`POST /v1/images/generations`, `Authorization: Bearer <key>`, JSON body.

The rules below are the upstream's, restated from the seeds on purpose rather
than read from our catalog: the simulator is the other side of the wire, so a
mistake in our catalog or adapter must show up here, not be mirrored.

Quirks reproduced:
- Errors are `{"error": {"message", "type", "param", "code"}}` with the REQUEST
  ID in `param` (not the offending field; the message names the field).
- `response_format: "b64_json"` gives `b64_json` as a data URL
  (`data:image/png;base64,...`), not OpenAI's bare base64, and the item still
  carries a `url` as in the seeds' sample answer. `url` (the default) gives only `url`.
- Result links live 7 days (`link_ttl`).
- Parameters a model does not take are ignored, not refused (an OpenAI-compatible
  gateway passes extras through): e.g. `n` to a Kontext edit model yields one image.
  The ignored names are noted in the recorded request (`notes.ignored`).
Not a quirk, the simulator's own economy: a `url` result is drawn when its link is first
downloaded (the same bytes), so a load wave that downloads nothing costs no drawing.
Sizes: flux.1-dev answers at `size`; the text-to-image models at their
`aspect_ratio`'s ~1 megapixel size; edit models at their reference's shape
scaled to ~1 megapixel (1024x1024 when the reference is a URL, which the
simulator never fetches).
"""

from __future__ import annotations

import base64
import functools
import re
import time
from dataclasses import dataclass, replace
from typing import Any

from simulator import images
from simulator.core import Format, Response, Route, SimRequest, json_response, openai_error, route

PREFIX = "data:image/png;base64,"
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


class Invalid(Exception):
    def __init__(self, message: str, code: str = "invalid_parameter") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Model:
    name: str
    takes: frozenset[str]  # optional parameters besides prompt, model, seed, guidance_scale
    image: str = ""  # "image" or "images" when a reference is required
    steps_default: int = 28

    @property
    def text_to_image(self) -> bool:
        return "aspect_ratio" in self.takes


def _model(name: str, takes: str, image: str = "", steps_default: int = 28) -> Model:
    return Model(name, frozenset(takes.split()), image, steps_default)


MODELS = {
    m.name: m
    for m in (
        _model("black-forest-labs/flux.1-dev", "n image size strength steps"),
        _model("black-forest-labs/flux-kontext-pro", "image", image="image"),
        _model("black-forest-labs/flux-kontext-pro/multi", "images", image="images"),
        _model("black-forest-labs/flux-kontext-pro/text-to-image", "n aspect_ratio"),
        _model("stepfun-ai/step1x-edit", "image steps negative_prompt", image="image"),
        _model("black-forest-labs/flux-kontext-max", "image", image="image"),
        _model("black-forest-labs/flux-kontext-max/multi", "images", image="images"),
        # Seed 002, the model's own page: n, steps (default 20) and negative_prompt.
        _model(
            "black-forest-labs/flux-kontext-max/text-to-image",
            "n aspect_ratio steps negative_prompt",
            steps_default=20,
        ),
    )
}
# Every optional field ModelVerse knows; others (OpenAI's `user`, `quality`...) pass silently.
KNOWN = frozenset(
    {"n", "image", "images", "size", "strength", "steps", "aspect_ratio", "negative_prompt"}
)
MAX_REFERENCES = 4


class ModelVerseFormat(Format):
    name = "modelverse"
    link_ttl = 7 * 24 * 3600

    def routes(self) -> list[Route]:
        return [route("POST", r"/v1/images/generations", self.generate)]

    def error(
        self, req: SimRequest, status: int, message: str, *, code: str, type: str = ""
    ) -> Response:
        # ModelVerse's quirk: `param` carries the request id, not a field name.
        return openai_error(status, message, code=code, type=type, param=req.request_id)

    def generate(self, req: SimRequest) -> Response:
        try:
            job = _validate(req)
        except Invalid as exc:
            return self.error(req, 400, exc.message, code=exc.code, type="invalid_request_error")
        if req.deliver_size:
            job = replace(job, width=req.deliver_size[0], height=req.deliver_size[1])
        req.note("seed", job.seed)
        req.note("size", f"{job.width}x{job.height}")
        data = [self._image(req, job, index) for index in range(job.n)]
        return json_response(
            200, {"created": int(time.time()), "data": data, "usage": {"input_tokens_details": {}}}
        )

    def _image(self, req: SimRequest, job: Job, index: int) -> dict[str, Any]:
        draw = functools.partial(
            images.render_png,
            prompt=job.prompt,
            seed=job.seed,
            width=job.width,
            height=job.height,
            index=index,
            reference=job.reference,
        )
        if job.response_format != "b64_json":  # drawn when its link is first downloaded
            return {"url": self.sim.publish(req, draw, ttl=self.link_ttl)}
        png = draw()
        url = self.sim.publish(req, png, ttl=self.link_ttl)
        return {"url": url, "b64_json": PREFIX + base64.b64encode(png).decode()}


@dataclass(frozen=True)
class Job:
    prompt: str
    n: int
    seed: int
    width: int
    height: int
    response_format: str
    reference: images.DecodedImage | None


def _validate(req: SimRequest) -> Job:
    body = req.json
    if req.json_error or not isinstance(body, dict):
        raise Invalid(req.json_error or "the request body must be a JSON object", "invalid_json")
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise Invalid("model is required", "missing_required_parameter")
    model = MODELS.get(name)
    if model is None:
        raise Invalid(f"model {name!r} does not exist or is not an image model", "model_not_found")
    ignored = sorted((KNOWN & set(body)) - model.takes)
    if ignored:
        req.note("ignored", ignored)
    references = _references(req, body, model)
    prompt = body.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise Invalid("prompt must be a string")
    # "Conditionally required": only flux.1-dev with a reference may go without.
    if not (prompt or "").strip() and not (name.endswith("flux.1-dev") and references):
        raise Invalid("prompt is required", "missing_required_parameter")
    _check_ranges(body, model)
    response_format = body.get("response_format") or "url"
    if response_format not in ("url", "b64_json"):
        raise Invalid("response_format must be 'url' or 'b64_json'")
    seed = body.get("seed")
    width, height = _size(body, model, references)
    decoded = [r for r in references if isinstance(r, images.DecodedImage)]
    return Job(
        prompt=prompt or "",
        n=body.get("n") or 1 if "n" in model.takes else 1,
        seed=images.random_seed() if seed is None or seed == -1 else seed,
        width=width,
        height=height,
        response_format=response_format,
        reference=decoded[0] if decoded else None,
    )


def _int(body: dict[str, Any], key: str, lo: int, hi: int) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise Invalid(f"{key} must be an integer between {lo} and {hi}")


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise Invalid(f"{key} must be a number between {lo:g} and {hi:g}")


def _check_ranges(body: dict[str, Any], model: Model) -> None:
    _int(body, "seed", -1, images.SEED_MAX)
    _number(body, "guidance_scale", 1, 10)
    takes = model.takes
    if "n" in takes:
        _int(body, "n", 1, 4)
    if "steps" in takes:
        _int(body, "steps", 1, 50)
    if "strength" in takes:
        _number(body, "strength", 0, 1)
    if "negative_prompt" in takes and not isinstance(body.get("negative_prompt", ""), str):
        raise Invalid("negative_prompt must be a string")
    ratio = body.get("aspect_ratio")
    if "aspect_ratio" in takes and ratio is not None and ratio not in images.ASPECT_RATIO_SIZES:
        raise Invalid(f"aspect_ratio must be one of {', '.join(images.ASPECT_RATIO_SIZES)}")


def _size(
    body: dict[str, Any], model: Model, references: list[images.DecodedImage | str]
) -> tuple[int, int]:
    if "size" in model.takes:
        raw = body.get("size") or "1024x1024"
        match = _SIZE.match(raw) if isinstance(raw, str) else None
        if not match:
            raise Invalid("size must look like 1024x1024")
        width, height = int(match[1]), int(match[2])
        if not (256 <= width <= 1536 and 256 <= height <= 1536):
            raise Invalid("size must be between 256x256 and 1536x1536")
        return width, height
    if model.text_to_image:
        return images.ASPECT_RATIO_SIZES[body.get("aspect_ratio") or "1:1"]
    first = references[0] if references else None
    if isinstance(first, images.DecodedImage):
        return images.fit_megapixel(first.width, first.height)
    return 1024, 1024


def _references(
    req: SimRequest, body: dict[str, Any], model: Model
) -> list[images.DecodedImage | str]:
    """The reference images the model takes: decoded data URLs, or URLs as given."""
    values: list[Any] = []
    if "image" in model.takes and body.get("image") is not None:
        values = [body["image"]]
    elif "images" in model.takes and body.get("images") is not None:
        values = body["images"]
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_REFERENCES:
            raise Invalid(f"images must be a list of 1 to {MAX_REFERENCES} images")
    if model.image and not values:
        raise Invalid(f"{model.image} is required for {model.name}", "missing_required_parameter")
    refs = [_reference(value, model.image or "image") for value in values]
    if refs:
        req.note("references", [_summary(r) for r in refs])
    return refs


def _reference(value: Any, field: str) -> images.DecodedImage | str:
    if not isinstance(value, str) or not value:
        raise Invalid(f"{field} must be an image URL or a data:image/...;base64 URL")
    if value.startswith(("http://", "https://")):
        return value  # recorded, never fetched: the simulator has no network
    if not value.startswith("data:"):
        raise Invalid(f"{field} must be an image URL or a data:image/...;base64 URL")
    try:
        return images.decode_data_url(value)
    except images.BadImage as exc:
        raise Invalid(f"{field}: {exc}", "invalid_image") from exc


def _summary(ref: images.DecodedImage | str) -> dict[str, Any]:
    if isinstance(ref, str):
        return {"kind": "url", "url": ref}
    return {
        "kind": "data_url",
        "mime": ref.mime,
        "bytes": len(ref.data),
        "width": ref.width,
        "height": ref.height,
        "sha256": ref.sha256,
    }
