"""/v1/openapi.json (drf-spectacular, see schema.py) and the human docs page."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from drf_spectacular.generators import SchemaGenerator

from providers.catalog import get_catalog

from .handling import page
from .mapping import IGNORED_FIELDS


@cache
def _schema() -> dict[str, Any]:
    from .schema import PUBLIC_OPERATIONS, patterns

    generator = SchemaGenerator(patterns=patterns(), title="Darkroom API")
    schema: dict[str, Any] = generator.get_schema(request=None, public=True)
    schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    schema["security"] = [{"bearer": []}]
    for operations in schema["paths"].values():
        for operation in operations.values():
            if operation["operationId"] in PUBLIC_OPERATIONS:
                operation["security"] = []
    return schema


@page
def openapi(request: HttpRequest) -> JsonResponse:
    base = settings.DARKROOM_PUBLIC_URL or request.build_absolute_uri("/")
    return JsonResponse({**_schema(), "servers": [{"url": base.rstrip("/")}]})


@page
def docs_page(request: HttpRequest) -> HttpResponse:
    base = (settings.DARKROOM_PUBLIC_URL or request.build_absolute_uri("/")).rstrip("/") + "/v1"
    return render(
        request,
        "api/docs.html",
        {
            "base_url": base,
            "models": list(get_catalog().models.values()),
            "ignored": sorted(IGNORED_FIELDS),
            "rate_limit": settings.DARKROOM_API_RATE_LIMIT,
        },
    )
