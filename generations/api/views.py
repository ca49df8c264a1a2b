"""/v1: the OpenAI-compatible API. Async views: a request waiting for its job
holds no thread (see waiting.py and asgi.py); blocking calls go through run_sync."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import reverse

from common.errors import InvalidRequest, ModelNotFound
from generations.models import Generation
from providers.catalog import get_catalog

from .auth import authenticate, bearer_token, key_for
from .errors import NotFound, WaitTimedOut
from .files import image_file_response
from .handling import endpoint, not_found, parse_request, wants_async
from .ratelimit import rate_limit_hit
from .responses import base_url, images_body, job_body, model_item, models_body
from .serializers import ImageCall
from .services import api_generation_submit
from .streaming import stream_kind, stream_response
from .sync import run_sync
from .waiting import wait_finished

__all__ = ["image_file", "images", "job", "model", "models", "not_found"]


@endpoint("POST")
async def images(request: HttpRequest) -> HttpResponseBase:
    """POST /v1/images/generations, /v1/images/edits and /v1/images/variations."""
    token = bearer_token(request)
    accepted = await run_sync(_accept, request, token, respond_async=wants_async(request))
    generation, call, base = accepted.generation, accepted.call, accepted.base
    if call.stream:
        return stream_response(generation.pk, kind=accepted.stream_kind, base=base)
    if accepted.job_body is not None:
        response = JsonResponse(accepted.job_body, status=202)
        response["Location"] = reverse("api:job", args=[generation.pk])
        response["Preference-Applied"] = "respond-async"
        return response
    await wait_finished(generation.pk, timeout=settings.DARKROOM_API_WAIT_CEILING)
    try:
        body = await run_sync(_finished_body, generation.pk, call.response_format, base)
    except WaitTimedOut as exc:
        exc.retryable = bool(accepted.idempotency_key)  # a retry waits on the same job
        raise
    response = JsonResponse(body)
    response["x-darkroom-job-id"] = str(generation.pk)
    return response


@dataclass(frozen=True)
class _Accepted:
    generation: Generation
    call: ImageCall
    base: str
    idempotency_key: str
    stream_kind: str = ""
    job_body: dict[str, object] | None = None  # the 202 body, for respond-async


def _accept(request: HttpRequest, token: str, *, respond_async: bool) -> _Accepted:
    """Everything before the wait, in one trip to a thread (each trip takes and gives
    back a pooled connection): key, rate limit, body, submission, and the 202 body."""
    key = key_for(token)
    rate_limit_hit(key.pk)
    call = parse_request(request)
    # Checked before submitting, so a stream the endpoint cannot give spends nothing.
    kind = stream_kind(request) if call.stream else ""
    idem = request.headers.get("Idempotency-Key", "")
    base = base_url(request)
    generation = api_generation_submit(key=key, call=call, idempotency_key=idem, base_url=base)
    body = None
    if respond_async and not call.stream:
        body = job_body(generation, call.response_format, base)
    return _Accepted(generation, call, base, idem, kind, body)


def _finished_body(generation_id: UUID, response_format: str, base: str) -> dict[str, object]:
    return images_body(Generation.objects.get(pk=generation_id), response_format, base)


@endpoint("GET")
async def job(request: HttpRequest, job_id: UUID) -> HttpResponseBase:
    key = await authenticate(request)
    response_format = request.GET.get("response_format", "url")
    if response_format not in ("url", "b64_json"):
        raise InvalidRequest("'response_format' must be url or b64_json.", param="response_format")
    body = await run_sync(_job_body, key.user_id, job_id, response_format, base_url(request))
    return JsonResponse(body)


def _job_body(user_id: int, job_id: UUID, response_format: str, base: str) -> dict[str, object]:
    generation = Generation.objects.filter(pk=job_id, user_id=user_id).first()
    if generation is None:
        raise NotFound(f"No job {job_id}.", param="job_id")
    return job_body(generation, response_format, base)


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
async def image_file(request: HttpRequest, token: str, ext: str) -> HttpResponseBase:
    return await image_file_response(request, token)
