"""/v1/organization/costs and /v1/organization/usage/images: OpenAI's shapes, for
internal tools, readable with a staff member's key only."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from accounts.models import User
from common.errors import DarkroomError, InvalidRequest
from generations.api.auth import authenticate
from generations.api.handling import endpoint
from generations.spend import organization as org
from generations.sync import run_sync

_MARK = re.compile(r'"\\u0000dec:(-?[0-9.]+)"')


class StaffOnly(DarkroomError):
    status = 403
    code = "insufficient_permissions"


def _exact_json(body: dict[str, Any]) -> HttpResponse:
    """JSON whose money is exact: a Decimal is written as its own digits, never a float."""

    def default(value: object) -> str:
        if isinstance(value, Decimal):
            return f"\u0000dec:{value.normalize():f}"
        raise TypeError(type(value).__name__)

    text = _MARK.sub(r"\1", json.dumps(body, default=default))
    return HttpResponse(text, content_type="application/json")


async def _answer(
    request: HttpRequest,
    page: Callable[[org.Query], dict[str, Any]],
    groups: tuple[str, ...],
    default_limit: int,
    max_limit: int,
) -> HttpResponseBase:
    key = await authenticate(request)

    def read() -> dict[str, Any]:
        if not User.objects.filter(pk=key.user_id, is_staff=True).exists():
            raise StaffOnly("Organisation usage and costs need an API key of a staff member.")
        try:
            query = org.parse_query(
                request.GET, groups=groups, default_limit=default_limit, max_limit=max_limit
            )
        except org.BadQuery as exc:
            raise InvalidRequest(str(exc), param=exc.param) from None
        return page(query)

    return _exact_json(await run_sync(read))


@endpoint("GET")
async def costs(request: HttpRequest) -> HttpResponseBase:
    return await _answer(request, org.costs_page, org.COST_GROUPS, 7, 180)


@endpoint("GET")
async def usage_images(request: HttpRequest) -> HttpResponseBase:
    return await _answer(request, org.images_page, org.IMAGE_GROUPS, 7, 31)
