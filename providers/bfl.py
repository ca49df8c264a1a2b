"""Black Forest Labs' native API (seed 004), asynchronous.

- create: `POST {base}/flux/v1/{model}` with JSON (`prompt`, `image_prompt`,
  `width`/`height` in multiples of 32, `steps`, `guidance`, `seed`,
  `safety_tolerance` 0..6, `prompt_upsampling`, `output_format`...). The answer
  is `{"id", "polling_url"}`.
- poll: the `polling_url` (when it is on the channel's own host; our key goes
  nowhere else) or `GET {base}/flux/v1/get_result?id=...`, until `status` is
  `Ready` (`result.sample` is the image link), `Request Moderated` /
  `Content Moderated`, `Error` or `Task not found`.
- `result.sample` expires about 10 minutes after the task is ready: the caller
  downloads it in the very step that first sees it, and we poll at most every
  few seconds, so a link is never left waiting.
- One task makes one image.
- Auth: `Authorization: Bearer <key>` as the reseller documents it; BFL's own
  host wants `x-key: <key>` (channel option `"auth": "x-key"`).
- Webhooks (channel option `"webhook": true` and a request that carries a
  `Callback`): the task also carries `webhook_url` and `webhook_secret`, both made by
  the caller (generations.callbacks.links); the endpoint checks the secret and polls
  at once instead of waiting for the next scheduled poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from common.sizes import nearest_ratio, parse_size
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
from providers.wire import RATIO_SIZES, bare_base64, error_from_response, size_in_32s


@dataclass(frozen=True)
class Inputs:
    fields: dict[str, str]  # our scalar parameter -> BFL's field
    size: str = "pixels"  # "pixels": width/height; "ratio": aspect_ratio (ultra)


_DEV = {
    "steps": "steps",
    "guidance_scale": "guidance",
    "seed": "seed",
    "safety_tolerance": "safety_tolerance",
    "prompt_upsampling": "prompt_upsampling",
}
MODELS: dict[str, Inputs] = {
    "flux-dev": Inputs(_DEV),
    "flux-pro": Inputs(_DEV),
    "flux-pro-1.1": Inputs(
        {
            "seed": "seed",
            "safety_tolerance": "safety_tolerance",
            "prompt_upsampling": "prompt_upsampling",
        }
    ),
    "flux-pro-1.1-ultra": Inputs(
        {
            "seed": "seed",
            "safety_tolerance": "safety_tolerance",
            "raw": "raw",
            "aspect_ratio": "aspect_ratio",
            "strength": "image_prompt_strength",
        },
        size="ratio",
    ),
}
MODERATED = {"Request Moderated", "Content Moderated"}


class BFLProvider(Provider):
    format = "bfl"
    # The result link dies ~10 minutes after the task is ready; a task not ready by
    # then is not coming.
    poll_deadline = 10 * 60.0

    @property
    def inputs(self) -> Inputs:
        return MODELS.get(self.channel.upstream_model, Inputs(_DEV))

    def unsupported(self, request: ProviderRequest) -> str | None:
        if int(request.params.get("n", 1)) > 1:
            return "a Black Forest Labs task makes one image"
        if request.images.get("images") or request.images.get("mask"):
            return "Black Forest Labs' generation endpoints take one image prompt, no mask"
        return None

    def submit(self, request: ProviderRequest) -> Outcome:
        response = send(
            "POST",
            f"{self.channel.base_url}/flux/v1/{self.channel.upstream_model}",
            timeout=self.channel.timeout,
            json=self.payload(request),
            headers=self.auth(),
        )
        if response.status_code != 200:
            raise error_from_response(response, what="this task")
        body = json_body(response)
        task_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise ProviderError(
                "upstream sent no task id", code="upstream_bad_response", retryable=True
            )
        state = {"id": task_id, "polling_url": str(body.get("polling_url") or ""), "polls": 0}
        return Pending(upstream_id=task_id, state=state, poll_after=self.poll_after(0))

    def poll(self, state: dict[str, Any]) -> Outcome:
        response = send(
            "GET", self.poll_url(state), timeout=self.channel.timeout, headers=self.auth()
        )
        if response.status_code != 200:
            raise error_from_response(response, what=f"task {state['id']}")
        body = json_body(response)
        status = body.get("status") if isinstance(body, dict) else None
        if status == "Ready":
            sample = (body.get("result") or {}).get("sample")
            if not isinstance(sample, str) or not sample:
                raise ProviderError(
                    "the task is ready without a sample link",
                    code="upstream_bad_response",
                    retryable=True,
                )
            return Completed(images=[ResultImage(url=sample)], upstream_id=state["id"])
        if status == "Pending":
            polls = int(state.get("polls", 0)) + 1
            return Pending(
                upstream_id=state["id"],
                state={**state, "polls": polls},
                poll_after=self.poll_after(polls),
            )
        raise _failure(state["id"], status)

    def payload(self, request: ProviderRequest) -> dict[str, Any]:
        inputs, params = self.inputs, request.params
        body: dict[str, Any] = {"prompt": request.prompt, "output_format": "png"}
        body.update(
            {theirs: params[ours] for ours, theirs in inputs.fields.items() if ours in params}
        )
        if inputs.size == "pixels":
            body.update(_pixels(params))
        elif "size" in params:
            body["aspect_ratio"] = nearest_ratio(*parse_size(params["size"]))
        if request.images.get("image"):
            # BFL's own documentation takes base64 here; a URL would have to be public.
            body["image_prompt"] = bare_base64(request.images["image"][0])
        elif "image_prompt_strength" in body:
            del body["image_prompt_strength"]  # means nothing without an image prompt
        if "guidance" in body:
            # BFL takes 1.5..5; a model served elsewhere may allow more (flux.1-dev: 1..10).
            # On failover the nearest value BFL takes beats a refused job.
            body["guidance"] = min(5.0, max(1.5, float(body["guidance"])))
        if body.get("seed") == -1:
            del body["seed"]
        body.update(self.webhook(request))
        return body

    def webhook(self, request: ProviderRequest) -> dict[str, str]:
        if not self.channel.options.get("webhook") or request.callback is None:
            return {}
        return {"webhook_url": request.callback.url, "webhook_secret": request.callback.secret}

    def auth(self) -> dict[str, str]:
        if self.channel.options.get("auth") == "x-key":
            return {"x-key": self.channel.api_key}
        return {"Authorization": f"Bearer {self.channel.api_key}"}

    def poll_url(self, state: dict[str, Any]) -> str:
        url = state.get("polling_url") or ""
        own = {
            urlsplit(self.channel.base_url).hostname,
            *self.channel.options.get("poll_hosts", []),
        }
        if url.startswith(("http://", "https://")) and urlsplit(url).hostname in own:
            return str(url)
        return f"{self.channel.base_url}/flux/v1/get_result?id={state['id']}"

    def poll_after(self, polls: int) -> float:
        first = float(self.channel.options.get("poll_interval", 0.5))
        return min(5.0, first * 1.5**polls)


def _pixels(params: dict[str, Any]) -> dict[str, int]:
    if "size" in params:
        width, height = size_in_32s(*parse_size(params["size"]))
    elif "aspect_ratio" in params:
        width, height = size_in_32s(*RATIO_SIZES[params["aspect_ratio"]])
    else:
        return {}
    return {"width": width, "height": height}


def _failure(task_id: str, status: Any) -> ProviderError:
    if status in MODERATED:
        return ProviderError(
            f"the upstream safety system refused task {task_id} ({status})",
            code="moderation_blocked",
            retryable=False,
        )
    if status == "Task not found":
        return ProviderError(
            f"upstream no longer knows task {task_id}", code="upstream_not_found", retryable=False
        )
    if status == "Error":
        return ProviderError(
            f"task {task_id} failed upstream", code="upstream_failed", retryable=True
        )
    return ProviderError(
        f"task {task_id} has an unknown status {status!r}",
        code="upstream_bad_response",
        retryable=True,
    )
