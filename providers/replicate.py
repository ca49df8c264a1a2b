"""Replicate's prediction API, as the reseller relays it (seed 003), asynchronous.

- create: `POST {base}/replicate/v1/models/{owner}/{name}/predictions` `{"input": {...}}`,
  or, when the channel names a `version` option, `POST {base}/replicate/v1/predictions`
  `{"version": ..., "input": {...}}`. The answer is a prediction with status "starting".
- poll: `GET {base}/replicate/v1/predictions/{id}` through `starting`, `processing`,
  to `succeeded` (`output`: one URL or a list of URLs) or `failed` (`error`), or
  `canceled`. We build the poll URL ourselves: the relayed prediction's `urls.get`
  still names api.replicate.com, which our key is not for.
- Result links live one hour (seed 003); the caller downloads them when first seen.

Each Flux model names its inputs its own way (`num_inference_steps` for dev,
`steps` for pro, `input_image` for Kontext, `image_prompt` for 1.1 pro...): the
table below translates our vocabulary per model and leaves out what a model has
no field for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.sizes import ASPECT_RATIOS, nearest_ratio, parse_size
from providers.base import (
    Completed,
    Outcome,
    Pending,
    Provider,
    ProviderError,
    ProviderRequest,
    ResultImage,
)
from providers.http import json_body, send
from providers.wire import bearer, error_from_response, is_moderation, size_in_32s

ALL_RATIOS = ASPECT_RATIOS


@dataclass(frozen=True)
class Inputs:
    """How one Replicate model takes our parameters."""

    fields: dict[str, str]  # our scalar parameter -> its input name
    image: str = ""  # where our `image` goes ("" = the model takes none)
    mask: str = ""
    size: str = "ratio"  # "ratio": size -> nearest aspect_ratio; "custom": width/height
    match_input: bool = False  # Kontext: keep the reference's shape unless a ratio is asked
    ratios: tuple[str, ...] = ALL_RATIOS
    extra: dict[str, Any] = field(default_factory=lambda: {"output_format": "png"})


_DEV = {
    "n": "num_outputs",
    "steps": "num_inference_steps",
    "guidance_scale": "guidance",
    "seed": "seed",
    "aspect_ratio": "aspect_ratio",
}
_KONTEXT = Inputs(
    {
        "seed": "seed",
        "aspect_ratio": "aspect_ratio",
        "safety_tolerance": "safety_tolerance",
        "prompt_upsampling": "prompt_upsampling",
    },
    image="input_image",
    match_input=True,
)
MODELS: dict[str, Inputs] = {
    "flux-schnell": Inputs({k: v for k, v in _DEV.items() if k != "guidance_scale"}),
    "flux-dev": Inputs({**_DEV, "strength": "prompt_strength"}, image="image"),
    "flux-pro": Inputs(
        {
            "steps": "steps",
            "guidance_scale": "guidance",
            "seed": "seed",
            "aspect_ratio": "aspect_ratio",
            "safety_tolerance": "safety_tolerance",
            "prompt_upsampling": "prompt_upsampling",
        },
        image="image_prompt",
        size="custom",
    ),
    "flux-1.1-pro": Inputs(
        {
            "seed": "seed",
            "aspect_ratio": "aspect_ratio",
            "safety_tolerance": "safety_tolerance",
            "prompt_upsampling": "prompt_upsampling",
        },
        image="image_prompt",
        size="custom",
    ),
    "flux-1.1-pro-ultra": Inputs(
        {
            "seed": "seed",
            "aspect_ratio": "aspect_ratio",
            "safety_tolerance": "safety_tolerance",
            "raw": "raw",
            "strength": "image_prompt_strength",
        },
        image="image_prompt",
    ),
    "flux-kontext-pro": _KONTEXT,
    "flux-kontext-max": _KONTEXT,
    "flux-fill-dev": Inputs(
        {k: v for k, v in _DEV.items() if k != "aspect_ratio"}, image="image", mask="mask", size=""
    ),
}
# A model we have no row for (a version-pinned LoRA...): the common Flux inputs.
GENERIC = Inputs(_DEV, image="image")


class ReplicateProvider(Provider):
    format = "replicate"
    poll_deadline = 15 * 60.0

    @property
    def inputs(self) -> Inputs:
        return MODELS.get(self.channel.upstream_model.rsplit("/", 1)[-1], GENERIC)

    def unsupported(self, request: ProviderRequest) -> str | None:
        inputs = self.inputs
        if request.images.get("images"):
            return "Replicate's Flux models take one reference image"
        if request.images.get("image") and not inputs.image:
            return f"{self.channel.upstream_model} takes no reference image"
        if request.images.get("mask") and not inputs.mask:
            return f"{self.channel.upstream_model} takes no mask"
        if int(request.params.get("n", 1)) > 1 and "n" not in inputs.fields:
            return f"{self.channel.upstream_model} makes one image per prediction"
        return None

    def submit(self, request: ProviderRequest) -> Outcome:
        base = f"{self.channel.base_url}/replicate/v1"
        body: dict[str, Any] = {"input": self.input(request)}
        if self.channel.options.get("version"):
            url, body["version"] = f"{base}/predictions", self.channel.options["version"]
        else:
            url = f"{base}/models/{self.channel.upstream_model}/predictions"
        response = send(
            "POST", url, timeout=self.channel.timeout, json=body, headers=bearer(self.channel)
        )
        if response.status_code not in (200, 201):
            raise error_from_response(response, what="this prediction")
        return self._outcome(json_body(response), polls=0)

    def poll(self, state: dict[str, Any]) -> Outcome:
        url = f"{self.channel.base_url}/replicate/v1/predictions/{state['id']}"
        response = send("GET", url, timeout=self.channel.timeout, headers=bearer(self.channel))
        if response.status_code != 200:
            raise error_from_response(response, what=f"prediction {state['id']}")
        return self._outcome(json_body(response), polls=int(state.get("polls", 0)) + 1)

    def input(self, request: ProviderRequest) -> dict[str, Any]:
        inputs, params = self.inputs, request.params
        body: dict[str, Any] = {"prompt": request.prompt}
        body.update(
            {theirs: params[ours] for ours, theirs in inputs.fields.items() if ours in params}
        )
        if "size" in params and inputs.size:
            width, height = parse_size(params["size"])
            if inputs.size == "custom":
                width, height = size_in_32s(width, height)
                body.update(aspect_ratio="custom", width=width, height=height)
            else:
                body["aspect_ratio"] = nearest_ratio(width, height, inputs.ratios)
        if request.images.get("image") and inputs.image:
            body[inputs.image] = request.images["image"][0].data_url()
            if inputs.match_input and "aspect_ratio" not in params:
                body["aspect_ratio"] = "match_input_image"
        if request.images.get("mask") and inputs.mask:
            body[inputs.mask] = request.images["mask"][0].data_url()
        if body.get("seed") == -1:
            del body["seed"]
        return {**inputs.extra, **body}

    def _outcome(self, prediction: Any, *, polls: int) -> Outcome:
        if not isinstance(prediction, dict) or not prediction.get("id"):
            raise ProviderError(
                "upstream sent no prediction", code="upstream_bad_response", retryable=True
            )
        pid, status = str(prediction["id"]), prediction.get("status")
        if status in ("starting", "processing"):
            return Pending(
                upstream_id=pid,
                state={"id": pid, "polls": polls},
                poll_after=self.poll_after(polls),
            )
        if status == "succeeded":
            return Completed(images=_output_images(prediction.get("output")), upstream_id=pid)
        raise _failure(pid, status, str(prediction.get("error") or ""))

    def poll_after(self, polls: int) -> float:
        first = float(self.channel.options.get("poll_interval", 1.0))
        return min(10.0, first * 1.5**polls)


def _output_images(output: Any) -> list[ResultImage]:
    urls = [output] if isinstance(output, str) else output
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
        raise ProviderError(
            "the prediction succeeded without an output URL",
            code="upstream_bad_response",
            retryable=True,
        )
    return [ResultImage(url=u) for u in urls]


def _failure(pid: str, status: Any, error: str) -> ProviderError:
    detail = f": {error[:300]}" if error else ""
    if status == "failed" and is_moderation(error):
        return ProviderError(
            f"the upstream safety system refused prediction {pid}{detail}",
            code="moderation_blocked",
            retryable=False,
        )
    if status == "failed":
        # A model crash or an out-of-memory upstream: a fresh prediction may well work.
        return ProviderError(
            f"prediction {pid} failed upstream{detail}", code="upstream_failed", retryable=True
        )
    if status == "canceled":
        return ProviderError(
            f"prediction {pid} was canceled upstream", code="upstream_canceled", retryable=False
        )
    return ProviderError(
        f"prediction {pid} has an unknown status {status!r}",
        code="upstream_bad_response",
        retryable=True,
    )
