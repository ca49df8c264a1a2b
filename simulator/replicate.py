"""Replicate's prediction API as the reseller relays it under `/replicate` (seed 003).

- `POST /replicate/v1/models/{owner}/{name}/predictions` `{"input": {...}}` or
  `POST /replicate/v1/predictions` `{"version": "<hash>", "input": {...}}` -> 201 and a
  prediction: `id, model, version, input, logs, output: null, data_removed, error,
  status: "starting", created_at, urls {cancel, get, stream}`. As in the seed's
  sample, `urls` name api.replicate.com even through the reseller.
- `GET /replicate/v1/predictions/{id}`: `starting` -> `processing` -> `succeeded`
  (`output`: a list of links, or one link for the single-image pro models;
  `metrics {image_count, predict_time}`) or `failed` (`error`). Unknown id: 404.
- `POST /replicate/v1/predictions/{id}/cancel`.
- Result links live 1 hour from when the prediction finished.
- Input validation per model (422 with Replicate's `detail`/`invalid_fields`);
  inputs a model does not have are ignored, as Cog does, and noted in the record
  (`notes.ignored`) so tests can tell that nothing untranslated was sent.
- Faults `moderation`, `task_error`, `task_not_found` become the prediction's fate:
  `failed` with an NSFW error, `failed` with a crash, or a 404 when polled.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from simulator import fields, images
from simulator.core import PROCEED, Format, Response, Route, SimRequest, json_response, route
from simulator.faults import Fault
from simulator.jobs import Job, JobStore, iso, new_id

PREFIX = "/replicate/v1"
SIZES = {**images.ASPECT_RATIO_SIZES, "4:5": (896, 1120), "5:4": (1120, 896)}
RATIOS = frozenset(SIZES)
NSFW = "NSFW content detected. Try running it again, or try a different prompt."

_DEV = frozenset(
    [
        "prompt",
        "aspect_ratio",
        "num_outputs",
        "num_inference_steps",
        "guidance",
        "seed",
        "go_fast",
        "megapixels",
        "output_format",
        "output_quality",
        "image",
        "prompt_strength",
    ]
)
_KONTEXT = frozenset(
    [
        "prompt",
        "input_image",
        "aspect_ratio",
        "seed",
        "safety_tolerance",
        "output_format",
        "prompt_upsampling",
    ]
)
# model -> the inputs it has (seed 003 and the models' Replicate pages).
SCHEMAS: dict[str, frozenset[str]] = {
    "black-forest-labs/flux-schnell": _DEV - {"guidance", "image", "prompt_strength"}
    | {"disable_safety_checker"},
    "black-forest-labs/flux-dev": _DEV,
    "black-forest-labs/flux-pro": frozenset(
        [
            "prompt",
            "aspect_ratio",
            "width",
            "height",
            "steps",
            "guidance",
            "interval",
            "safety_tolerance",
            "seed",
            "output_format",
            "output_quality",
            "prompt_upsampling",
            "image_prompt",
        ]
    ),
    "black-forest-labs/flux-1.1-pro": frozenset(
        [
            "prompt",
            "aspect_ratio",
            "width",
            "height",
            "image_prompt",
            "safety_tolerance",
            "seed",
            "output_format",
            "output_quality",
            "prompt_upsampling",
        ]
    ),
    "black-forest-labs/flux-1.1-pro-ultra": frozenset(
        [
            "prompt",
            "aspect_ratio",
            "image_prompt",
            "image_prompt_strength",
            "raw",
            "safety_tolerance",
            "seed",
            "output_format",
        ]
    ),
    "black-forest-labs/flux-kontext-pro": _KONTEXT,
    "black-forest-labs/flux-kontext-max": _KONTEXT,
    "black-forest-labs/flux-fill-dev": frozenset(
        [
            "prompt",
            "image",
            "mask",
            "num_outputs",
            "num_inference_steps",
            "guidance",
            "seed",
            "megapixels",
            "output_format",
            "output_quality",
        ]
    ),
}
REQUIRED = {
    "black-forest-labs/flux-kontext-pro": "input_image",
    "black-forest-labs/flux-kontext-max": "input_image",
    "black-forest-labs/flux-fill-dev": "image",
}
# A version-pinned model (a LoRA...) has flux-dev's inputs here.
VERSION_MODEL = "lucataco/flux-dev-lora"
IMAGE_INPUTS = ("input_image", "image", "image_prompt")


class ReplicateFormat(Format):
    name = "replicate"
    link_ttl = 3600.0

    def __init__(self, sim: Any) -> None:
        super().__init__(sim)
        self.jobs = JobStore()

    def routes(self) -> list[Route]:
        return [
            route(
                "POST",
                rf"{PREFIX}/models/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)/predictions",
                self.create,
            ),
            route("POST", rf"{PREFIX}/predictions", self.create),
            route("GET", rf"{PREFIX}/predictions/(?P<id>[a-z0-9]+)", self.get),
            route("POST", rf"{PREFIX}/predictions/(?P<id>[a-z0-9]+)/cancel", self.cancel),
        ]

    def reset(self) -> None:
        self.jobs.clear()

    def error(
        self, req: SimRequest, status: int, message: str, *, code: str, type: str = ""
    ) -> Response:
        return json_response(status, {"title": type or code, "detail": message, "status": status})

    def model_of(self, req: SimRequest) -> str | None:
        match = req.match
        if match is not None and "owner" in match.groupdict():
            return f"{match['owner']}/{match['name']}"
        if match is not None and "id" in match.groupdict():
            job = self.jobs.get(match["id"])
            return job.model if job else None
        return VERSION_MODEL if req.method == "POST" else None

    def prompt_of(self, req: SimRequest) -> str | None:
        body = req.json if isinstance(req.json, dict) else {}
        prompt = (
            (body.get("input") or {}).get("prompt") if isinstance(body.get("input"), dict) else None
        )
        return prompt if isinstance(prompt, str) and req.method == "POST" else None

    def fault_response(self, req: SimRequest, fault: Fault) -> Response | None:
        if fault.kind in ("moderation", "task_error", "task_not_found"):
            req.fate = fault.kind
            return PROCEED
        return None

    # -- handlers --

    def create(self, req: SimRequest) -> Response:
        body = req.json
        if req.json_error or not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return self._invalid(fields.Invalid("input", "the body needs an input object"))
        model = self.model_of(req) or VERSION_MODEL
        by_version = req.match is not None and "owner" not in req.match.groupdict()
        if by_version and not (isinstance(body.get("version"), str) and body["version"]):
            return self._invalid(fields.Invalid("version", "is required"))
        schema = SCHEMAS.get(model)
        if schema is None and model != VERSION_MODEL:
            return self.error(
                req, 404, f"Model {model} not found.", code="not_found", type="Not found"
            )
        try:
            job = self._job(
                req, model, body["input"], schema or SCHEMAS["black-forest-labs/flux-dev"]
            )
        except fields.Invalid as exc:
            return self._invalid(exc)
        job.extra["version"] = body.get("version") or f"dp-{secrets.token_hex(16)}"
        self.jobs.add(job)
        return json_response(201, self._prediction(job, req, created=True))

    def get(self, req: SimRequest) -> Response:
        assert req.match is not None
        job = self.jobs.get(req.match["id"])
        if job is not None and req.fate:
            job.fate = req.fate
        if job is None or job.fate == "task_not_found":
            return json_response(404, {"title": "Not found", "detail": "Not found.", "status": 404})
        return json_response(200, self._prediction(job, req))

    def cancel(self, req: SimRequest) -> Response:
        assert req.match is not None
        job = self.jobs.get(req.match["id"])
        if job is None:
            return json_response(404, {"title": "Not found", "detail": "Not found.", "status": 404})
        if not job.done():
            job.fate = "canceled"
        return json_response(200, self._prediction(job, req))

    # -- the prediction --

    def _job(self, req: SimRequest, model: str, raw: dict[str, Any], schema: frozenset[str]) -> Job:
        ignored = sorted(set(raw) - schema)
        if ignored:
            req.note("ignored", ignored)
        given = {k: v for k, v in raw.items() if k in schema}
        prompt = fields.text(given, "prompt", required=True)
        _check(model, given)
        refs = {k: fields.image(given[k], k) for k in (*IMAGE_INPUTS, "mask") if k in given}
        if REQUIRED.get(model) and REQUIRED[model] not in refs:
            raise fields.Invalid(REQUIRED[model], "is required")
        if refs:
            req.note("references", {k: fields.summary(v) for k, v in refs.items()})
        decoded = [r for r in refs.values() if isinstance(r, images.DecodedImage)]
        width, height = _size(model, given, decoded[0] if decoded else None)
        seed = fields.seed(given)
        req.note("size", f"{width}x{height}")
        return Job(
            id=new_id(),
            model=model,
            input=raw,
            prompt=prompt,
            seed=seed,
            width=width,
            height=height,
            count=int(given.get("num_outputs") or 1),
            reference=decoded[0] if decoded else None,
            run_seconds=float(self.sim.config["job_seconds"]),
            fate=req.fate,
            expire_links=req.expire_links,
            base_url=req.base_url,
        )

    def _prediction(self, job: Job, req: SimRequest, created: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        # A create always answers "starting", however quick the job (as Replicate does).
        status, output, error = ("starting", None, None) if created else self._state(job, req, now)
        api = f"https://api.replicate.com/v1/predictions/{job.id}"
        body: dict[str, Any] = {
            "id": job.id,
            "model": job.model,
            "version": job.extra.get("version", ""),
            "input": job.input,
            "logs": "" if status == "starting" else f"Using seed: {job.seed}\n",
            "output": output,
            "data_removed": False,
            "error": error,
            "status": status,
            "created_at": iso(job.created_wall),
            "urls": {
                "cancel": f"{api}/cancel",
                "get": api,
                "stream": f"https://stream.replicate.com/v1/files/{job.id}",
            },
        }
        if status in ("succeeded", "failed", "canceled"):
            body["started_at"] = iso(job.created_wall)
            body["completed_at"] = iso(job.created_wall + job.run_seconds)
        if status == "succeeded":
            body["metrics"] = {"image_count": job.count, "predict_time": job.run_seconds}
        return body

    def _state(self, job: Job, req: SimRequest, now: float) -> tuple[str, Any, str | None]:
        if job.fate == "canceled":
            return "canceled", None, None
        if not job.done(now):
            return ("starting" if job.progress(now) < 0.3 else "processing"), None, None
        if job.fate == "moderation":
            return "failed", None, NSFW
        if job.fate == "task_error":
            return "failed", None, "CUDA error: out of memory. Prediction failed."
        with job.lock:
            if job.outputs is None:
                job.outputs = [
                    self.sim.publish(
                        req,
                        job.render(i),
                        ttl=self.link_ttl,
                        age=now - job.finishes_at,
                        expired=job.expire_links,
                    )
                    for i in range(job.count)
                ]
        single = job.model.endswith(
            ("flux-pro", "flux-1.1-pro", "flux-1.1-pro-ultra", "kontext-pro", "kontext-max")
        )
        return "succeeded", (job.outputs[0] if single else list(job.outputs)), None

    def _invalid(self, exc: fields.Invalid) -> Response:
        return json_response(
            422,
            {
                "title": "Input validation failed",
                "status": 422,
                "detail": f"- input.{exc.field}: {exc.message}\n",
                "invalid_fields": [
                    {"type": exc.code, "field": f"input.{exc.field}", "description": exc.message}
                ],
            },
        )


def _check(model: str, body: dict[str, Any]) -> None:
    pro = model.endswith(("flux-pro", "flux-1.1-pro"))
    fields.integer(body, "num_outputs", 1, 4)
    fields.integer(body, "num_inference_steps", 1, 4 if model.endswith("schnell") else 50)
    fields.integer(body, "steps", 1, 50)
    lo, hi = (2, 5) if pro else ((0, 100) if model.endswith("fill-dev") else (0, 10))
    fields.number(body, "guidance", lo, hi)
    fields.integer(body, "seed", 0, images.SEED_MAX)
    fields.number(body, "prompt_strength", 0, 1)
    fields.number(body, "image_prompt_strength", 0, 1)
    fields.integer(body, "safety_tolerance", 0, 6)
    fields.integer(body, "output_quality", 0, 100)
    fields.integer(body, "interval", 1, 4)
    for key in ("go_fast", "raw", "prompt_upsampling", "disable_safety_checker"):
        fields.boolean(body, key)
    fields.choice(body, "output_format", ("webp", "jpg", "png"))
    extra = {"custom"} if pro else ({"match_input_image"} if "kontext" in model else set())
    fields.choice(body, "aspect_ratio", RATIOS | extra)
    if body.get("aspect_ratio") == "custom":
        for key in ("width", "height"):
            value = body.get(key)
            if not isinstance(value, int) or not 256 <= value <= 1440 or value % 32:
                raise fields.Invalid(key, "must be a multiple of 32 between 256 and 1440")


def _size(model: str, body: dict[str, Any], ref: images.DecodedImage | None) -> tuple[int, int]:
    ratio = body.get("aspect_ratio")
    if ratio == "custom":
        return int(body["width"]), int(body["height"])
    if ratio in SIZES:
        return SIZES[ratio]
    if ref is not None and (
        ratio == "match_input_image" or "kontext" in model or model.endswith("fill-dev")
    ):
        return images.fit_megapixel(ref.width, ref.height)
    return SIZES["1:1"]
