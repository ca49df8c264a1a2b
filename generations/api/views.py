"""/v1: the OpenAI-compatible API. Async views: a request waiting for its job
holds no thread (see waiting.py and asgi.py); blocking calls go through run_sync."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import reverse

from accounts.models import ApiKey
from common.errors import InvalidRequest, ModelNotFound
from generations.api.auth import authenticate, bearer_token, key_for
from generations.api.errors import UNAVAILABLE, NotFound, WaitTimedOut, error_response
from generations.api.files import image_file_response
from generations.api.gate import SCOPE_KEY
from generations.api.handling import (
    endpoint,
    not_found,
    parse_request,
    sdk_retry_count,
    wants_async,
)
from generations.api.quota import quota_body, quota_headers_or_none
from generations.api.ratelimit import rate_limit_hit
from generations.api.responses import base_url, images_body, job_body, model_item, models_body
from generations.api.serializers import ImageCall
from generations.api.services import api_call_answered, api_generation_submit
from generations.api.streaming import stream_kind, stream_response
from generations.api.waiting import wait_finished
from generations.models import Generation
from generations.sync import run_sync
from providers.catalog import get_catalog

__all__ = ["image_file", "images", "job", "model", "models", "not_found", "quota"]

log = logging.getLogger(__name__)


@endpoint("POST")
async def images(request: HttpRequest) -> HttpResponseBase:
    """POST /v1/images/generations, /v1/images/edits and /v1/images/variations.

    Every answer after the job exists names it in `x-darkroom-job-id`, errors too,
    so a client that loses the answer can still find its job. Every answer whose key
    and model are known carries the caller's quota for that model (api.quota).
    """
    token = bearer_token(request)
    seen = _Seen()
    try:
        accepted = await run_sync(_accept, request, token, seen, respond_async=wants_async(request))
    except Exception as exc:
        return _with_headers(error_response(exc), seen.quota)
    try:
        response, limits = await _answer(accepted)
    except Exception as exc:
        response, limits = error_response(exc), accepted.quota
    response["x-darkroom-job-id"] = str(accepted.generation.pk)
    return _with_headers(response, limits)


@dataclass
class _Seen:
    """What _accept learnt before it failed, so a refusal carries the quota too."""

    quota: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Accepted:
    key: ApiKey
    generation: Generation
    call: ImageCall
    base: str
    joinable: bool  # a retry (same Idempotency-Key, or the SDK's own) joins this job
    remembered: bool  # an SDK call without a key: its record goes once it is answered
    stream_kind: str = ""
    job_body: dict[str, object] | None = None  # the 202 body, for respond-async
    error: Exception | None = None  # raised after the job existed: answered with its id
    quota: dict[str, str] = field(default_factory=dict)  # the headers as of acceptance


def _with_headers(response: HttpResponseBase, headers: dict[str, str]) -> HttpResponseBase:
    for name, value in headers.items():
        response[name] = value
    return response


def _accept(request: HttpRequest, token: str, seen: _Seen, *, respond_async: bool) -> _Accepted:
    """Everything before the wait, in one trip to a thread (each trip takes and gives
    back a pooled connection): key, rate limit, body, submission, and the 202 body."""
    # The ASGI gate (gate.py) checked the key before the body was read; reuse its answer.
    key = getattr(request, "scope", {}).get(SCOPE_KEY) or key_for(token)
    call = None
    try:
        rate_limit_hit(key.pk)
        call = parse_request(request)
        return _submit(request, key, call, respond_async=respond_async)
    except Exception:
        seen.quota = quota_headers_or_none(key, call.model if call else "")
        raise


def _submit(
    request: HttpRequest, key: ApiKey, call: ImageCall, *, respond_async: bool
) -> _Accepted:
    # Checked before submitting, so a stream the endpoint cannot give spends nothing.
    kind = stream_kind(request) if call.stream else ""
    idem = request.headers.get("Idempotency-Key", "")
    retry_count = sdk_retry_count(request)
    base = base_url(request)
    generation = api_generation_submit(
        key=key, call=call, idempotency_key=idem, retry_count=retry_count, base_url=base
    )
    sdk_call = not idem and retry_count is not None
    accepted = _Accepted(key, generation, call, base, bool(idem) or sdk_call, sdk_call, kind)
    accepted = replace(accepted, quota=quota_headers_or_none(key, call.model))
    if not respond_async or call.stream:
        return accepted
    try:
        body = job_body(generation, call.response_format, base)
    except Exception as exc:
        return replace(accepted, error=exc)
    _answered(accepted)
    return replace(accepted, job_body=body)


async def _answer(accepted: _Accepted) -> tuple[HttpResponseBase, dict[str, str]]:
    generation, call, base = accepted.generation, accepted.call, accepted.base
    if accepted.error is not None:
        raise accepted.error
    if call.stream:
        stream = stream_response(generation.pk, kind=accepted.stream_kind, base=base)
        if accepted.remembered:
            await run_sync(_answered, accepted)
        return stream, accepted.quota
    if accepted.job_body is not None:
        response = JsonResponse(accepted.job_body, status=202)
        response["Location"] = reverse("api:job", args=[generation.pk])
        response["Preference-Applied"] = "respond-async"
        return response, accepted.quota
    await wait_finished(generation.pk, timeout=settings.DARKROOM_API_WAIT_CEILING)
    answer, limits = await run_sync(_finished_response, accepted)
    if isinstance(answer, WaitTimedOut):
        answer.retryable = accepted.joinable
    if isinstance(answer, Exception):
        return error_response(answer), limits
    return answer, limits


def _answered(accepted: _Accepted) -> None:
    if not accepted.remembered:  # nothing was recorded for this call
        return
    try:
        api_call_answered(key=accepted.key, generation=accepted.generation)
    except UNAVAILABLE as exc:  # the answer matters more than forgetting the call
        log.warning("could not mark job %s answered: %r", accepted.generation.pk, exc)


def _finished_response(accepted: _Accepted) -> tuple[JsonResponse | Exception, dict[str, str]]:
    """The answer (or its error), the call marked answered and the quota as it now
    stands (a failed job's images are back), in the same trip to a thread; encoded there
    too: 4 x 8 MB of b64_json on the event loop would stall every other request."""
    limits = quota_headers_or_none(accepted.key, accepted.call.model)
    generation = Generation.objects.get(pk=accepted.generation.pk)
    try:
        body = images_body(generation, accepted.call.response_format, accepted.base)
    except Exception as exc:  # not answered: an SDK retry of a timed-out wait joins the job
        return exc, limits
    _answered(accepted)
    return JsonResponse(body), limits


@endpoint("GET")
async def job(request: HttpRequest, job_id: UUID) -> HttpResponseBase:
    key = await authenticate(request)
    response_format = request.GET.get("response_format", "url")
    if response_format not in ("url", "b64_json"):
        raise InvalidRequest("'response_format' must be url or b64_json.", param="response_format")
    return await run_sync(_job_response, key, job_id, response_format, base_url(request))


def _job_response(key: ApiKey, job_id: UUID, response_format: str, base: str) -> HttpResponseBase:
    """Built in the thread: a b64_json answer is megabytes of JSON to encode."""
    generation = Generation.objects.filter(pk=job_id, user_id=key.user_id).first()
    # A key limited to some models sees only their jobs: the rest are not there for it.
    if generation is None or not key.allows(generation.model):
        raise NotFound(f"No job {job_id}.", param="job_id")
    response = JsonResponse(job_body(generation, response_format, base))
    return _with_headers(response, quota_headers_or_none(key, generation.model))


@endpoint("GET")
async def quota(request: HttpRequest) -> HttpResponseBase:
    """GET /v1/quota: the key owner's images per model, within the key's allowed models."""
    key = await authenticate(request)
    return JsonResponse(await run_sync(quota_body, key))


@endpoint("GET")
async def models(request: HttpRequest) -> HttpResponseBase:
    key = await authenticate(request)
    return JsonResponse(models_body(key))


@endpoint("GET")
async def model(request: HttpRequest, model_id: str) -> HttpResponseBase:
    key = await authenticate(request)
    if get_catalog().get(model_id) is None or not key.allows(model_id):
        raise ModelNotFound(f"The model '{model_id}' does not exist.", param="model")
    return JsonResponse(model_item(model_id))


@endpoint("GET", "HEAD")
async def image_file(request: HttpRequest, token: str, ext: str) -> HttpResponseBase:  # noqa: ARG001
    return await image_file_response(request, token)
