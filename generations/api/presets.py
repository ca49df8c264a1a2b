"""/v1/presets: the prompt library for API callers; the service lives in presets."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from accounts.models import User
from common.errors import InvalidRequest
from generations.api.auth import authenticate
from generations.api.handling import endpoint
from generations.api.paging import PER_PAGE, page_params, paged
from generations.api.serializers import ImageCall
from generations.sync import run_sync
from presets.models import Preset
from presets.selectors import preset_for, presets_page
from presets.services import preset_create, preset_delete, preset_fill


@endpoint("GET", "POST")
async def presets(request: HttpRequest) -> HttpResponseBase:
    key = await authenticate(request)
    if request.method == "POST":
        body = json_body(request)
        return JsonResponse(await run_sync(_create, key.user, body), status=201)
    page, per_page = page_params(request)
    return JsonResponse(await run_sync(_list, key.user, page, per_page))


@endpoint("DELETE")
async def preset(request: HttpRequest, preset_id: int) -> HttpResponseBase:
    key = await authenticate(request)
    await run_sync(preset_delete, user=key.user, preset_id=preset_id)
    return HttpResponse(status=204)


def _list(user: User, page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
    found = presets_page(user, page, per_page)
    return paged(found, [preset_item(p) for p in found])


def _create(user: User, body: dict[str, Any]) -> dict[str, Any]:
    made = preset_create(
        owner=user,
        name=body.get("name"),
        model=body.get("model"),
        template=body.get("template"),
        params=body.get("params"),
        shared_with=body.get("shared_with"),
    )
    return preset_item(preset_for(user, made.pk))


def preset_item(found: Preset) -> dict[str, Any]:
    return {
        "id": found.pk,
        "object": "preset",
        "name": found.name,
        "model": found.model,
        "params": found.params,
        "template": found.template,
        "slots": found.slots,
        "owner": found.owner.get_username(),
        "shared_with": found.shared_with(),
        "created": int(found.created_at.timestamp()),
    }


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    return data


def call_with_preset(user: User, call: ImageCall) -> ImageCall:
    """The call with its preset applied: the preset's model, parameters and filled
    template, under whatever the call itself sent. A call without `preset` is unchanged."""
    if call.preset is None:
        return call
    values = call.preset_values
    if isinstance(values, str):  # multipart sends the object as JSON text
        try:
            values = json.loads(values)
        except ValueError:
            raise InvalidRequest(
                "'preset_values' must be an object.", param="preset_values"
            ) from None
    filled = preset_fill(user=user, preset_id=call.preset, values=values)
    # The SDK insists on a prompt: an empty one (or none) means "the preset's".
    return replace(
        call,
        model=call.model if call.model not in (None, "") else filled.model,
        prompt=call.prompt if call.prompt not in (None, "") else filled.prompt,
        fields={**filled.params, **call.fields},
        preset=filled.preset.pk,
    )
