"""Black Forest Labs' native API (seed 004), asynchronous.

- `POST /flux/v1/{model}` (flux-dev, flux-pro, flux-pro-1.1, flux-pro-1.1-ultra), JSON,
  key as `x-key` (BFL's own) or `Authorization: Bearer` (the reseller's) -> 200
  `{"id", "polling_url"}`; the polling URL is `/flux/v1/get_result?id=...` on this host.
- `GET /flux/v1/get_result?id=...` -> `{"id", "status", "result", "progress"}`,
  `status` one of `Pending`, `Ready` (`result.sample` is the link), `Request Moderated`,
  `Content Moderated`, `Error`, `Task not found` (an unknown id: 200, not 404).
- `result.sample` expires 10 minutes after the task became ready.
- Validation as FastAPI does it: 422 `{"detail": [{"loc": ["body", field], "msg", "type"}]}`;
  fields a model does not have are ignored (noted in the record).
- `webhook_url` + `webhook_secret`: when the task is done, the result is POSTed there
  (`{"id", "status", "result", "webhook_secret"}`), loopback addresses only: the
  simulator sends no traffic off this machine. Deliveries are kept in `deliveries`.
- Faults `moderation` (-> `Content Moderated`; with `code="request"`: `Request
  Moderated`), `task_error` (-> `Error`) and `task_not_found` become the task's fate.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlsplit

from simulator import fields, images
from simulator.core import PROCEED, Format, Response, Route, SimRequest, json_response, route
from simulator.faults import Fault
from simulator.jobs import Job, JobStore

_DEV = frozenset(
    [
        "prompt",
        "image_prompt",
        "width",
        "height",
        "steps",
        "prompt_upsampling",
        "seed",
        "guidance",
        "safety_tolerance",
        "output_format",
        "webhook_url",
        "webhook_secret",
    ]
)
SCHEMAS: dict[str, frozenset[str]] = {
    "flux-dev": _DEV,
    "flux-pro": _DEV | {"interval"},
    "flux-pro-1.1": _DEV - {"steps", "guidance"},
    "flux-pro-1.1-ultra": frozenset(
        [
            "prompt",
            "seed",
            "aspect_ratio",
            "safety_tolerance",
            "output_format",
            "raw",
            "image_prompt",
            "image_prompt_strength",
            "prompt_upsampling",
            "webhook_url",
            "webhook_secret",
        ]
    ),
}


class BFLFormat(Format):
    name = "bfl"
    link_ttl = 600.0

    def __init__(self, sim: Any) -> None:
        super().__init__(sim)
        self.jobs = JobStore()
        self.deliveries: list[dict[str, Any]] = []

    def routes(self) -> list[Route]:
        return [
            route("GET", r"/flux/v1/get_result", self.get_result),
            route("POST", r"/flux/v1/(?P<model>[\w.-]+)", self.create),
        ]

    def reset(self) -> None:
        self.jobs.clear()
        self.deliveries.clear()

    def credential(self, req: SimRequest) -> str | None:
        return req.header("x-key") or super().credential(req)

    def error(
        self, req: SimRequest, status: int, message: str, *, code: str, type: str = ""
    ) -> Response:
        return json_response(status, {"detail": message})

    def model_of(self, req: SimRequest) -> str | None:
        if req.match is not None and "model" in req.match.groupdict():
            return req.match["model"]
        job = self.jobs.get(req.query.get("id", [""])[0])
        return job.model if job else None

    def prompt_of(self, req: SimRequest) -> str | None:
        return super().prompt_of(req) if req.method == "POST" else None

    def fault_response(self, req: SimRequest, fault: Fault) -> Response | None:
        if fault.kind == "moderation":
            req.fate = (
                "request_moderated" if fault.params.get("code") == "request" else "moderation"
            )
            return PROCEED
        if fault.kind in ("task_error", "task_not_found"):
            req.fate = fault.kind
            return PROCEED
        return None

    # -- handlers --

    def create(self, req: SimRequest) -> Response:
        assert req.match is not None
        model, body = req.match["model"], req.json
        if model not in SCHEMAS:
            return json_response(404, {"detail": "Not Found"})
        if req.json_error or not isinstance(body, dict):
            return _invalid("body", req.json_error or "must be a JSON object", "json_invalid")
        try:
            job = self._job(req, model, body)
        except fields.Invalid as exc:
            return _invalid(exc.field, exc.message, exc.code)
        self.jobs.add(job)
        if isinstance(body.get("webhook_url"), str):
            self._schedule_webhook(
                job, req, body["webhook_url"], str(body.get("webhook_secret", ""))
            )
        return json_response(
            200, {"id": job.id, "polling_url": f"{req.base_url}/flux/v1/get_result?id={job.id}"}
        )

    def get_result(self, req: SimRequest) -> Response:
        task_id = req.query.get("id", [""])[0]
        job = self.jobs.get(task_id)
        if job is not None and req.fate:
            job.fate = req.fate
        if job is None or job.fate == "task_not_found":
            return json_response(200, {"id": task_id, "status": "Task not found"})
        return json_response(200, self.result(job, req))

    def result(self, job: Job, req: SimRequest) -> dict[str, Any]:
        now = time.monotonic()
        if not job.done(now):
            return {
                "id": job.id,
                "status": "Pending",
                "result": None,
                "progress": round(job.progress(now), 2),
            }
        status = {
            "moderation": "Content Moderated",
            "request_moderated": "Request Moderated",
            "task_error": "Error",
        }.get(job.fate or "")
        if status:
            return {
                "id": job.id,
                "status": status,
                "result": None,
                "progress": None,
                "details": {"moderation_reasons": ["Derivative Works"]} if "Mod" in status else {},
            }
        with job.lock:
            if job.outputs is None:
                job.outputs = [
                    self.sim.publish(
                        req,
                        job.render(0),
                        ttl=self.link_ttl,
                        age=now - job.finishes_at,
                        expired=job.expire_links,
                    )
                ]
        return {
            "id": job.id,
            "status": "Ready",
            "progress": None,
            "result": {
                "sample": job.outputs[0],
                "prompt": job.prompt,
                "seed": job.seed,
                "start_time": job.created_wall,
                "end_time": job.created_wall + job.run_seconds,
                "duration": job.run_seconds,
            },
        }

    def _job(self, req: SimRequest, model: str, raw: dict[str, Any]) -> Job:
        schema = SCHEMAS[model]
        ignored = sorted(set(raw) - schema)
        if ignored:
            req.note("ignored", ignored)
        body = {k: v for k, v in raw.items() if k in schema}
        prompt = fields.text(body, "prompt", required=True)
        for key in ("width", "height"):
            value = body.get(key)
            if value is not None and (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not 256 <= value <= 1440
                or value % 32
            ):
                raise fields.Invalid(
                    key, "Input should be a multiple of 32 between 256 and 1440", "value_error"
                )
        fields.integer(body, "steps", 1, 50)
        fields.number(body, "guidance", 1.5, 5)
        fields.integer(body, "seed", 0, images.SEED_MAX)
        fields.integer(body, "safety_tolerance", 0, 6)
        fields.integer(body, "interval", 1, 4)
        fields.number(body, "image_prompt_strength", 0, 1)
        fields.boolean(body, "prompt_upsampling")
        fields.boolean(body, "raw")
        fields.choice(body, "output_format", ("jpeg", "png"))
        fields.choice(body, "aspect_ratio", frozenset(images.ASPECT_RATIO_SIZES))
        ref = (
            fields.image(body["image_prompt"], "image_prompt", bare_base64=True)
            if "image_prompt" in body
            else None
        )
        if ref is not None:
            req.note("references", {"image_prompt": fields.summary(ref)})
        if "aspect_ratio" in body:
            width, height = images.ASPECT_RATIO_SIZES[body["aspect_ratio"]]
        else:
            width, height = int(body.get("width", 1024)), int(body.get("height", 768))
        req.note("size", f"{width}x{height}")
        return Job(
            id=str(uuid.uuid4()),
            model=model,
            input=raw,
            prompt=prompt,
            seed=fields.seed(body),
            width=width,
            height=height,
            reference=ref if isinstance(ref, images.DecodedImage) else None,
            run_seconds=float(self.sim.config["job_seconds"]),
            fate=req.fate,
            expire_links=req.expire_links,
            base_url=req.base_url,
        )

    # -- webhooks --

    def _schedule_webhook(self, job: Job, req: SimRequest, url: str, secret: str) -> None:
        if not _loopback(url):
            req.note("webhook", "refused: the simulator only calls loopback addresses")
            return
        timer = threading.Timer(max(0.0, job.run_seconds), self._deliver, (job, req, url, secret))
        timer.daemon = True
        timer.start()

    def _deliver(self, job: Job, req: SimRequest, url: str, secret: str) -> None:
        payload = {**self.result(job, req), "webhook_secret": secret}
        record: dict[str, Any] = {"url": url, "payload": payload, "status": None}
        request = urllib.request.Request(  # noqa: S310 - loopback only, checked above
            url,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "X-Webhook-Secret": secret},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                record["status"] = answer.status
        except Exception as exc:  # a refused delivery is recorded, not fatal
            record["status"] = getattr(exc, "code", None) or repr(exc)
        self.deliveries.append(record)


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _invalid(field: str, message: str, code: str) -> Response:
    return json_response(422, {"detail": [{"loc": ["body", field], "msg": message, "type": code}]})
