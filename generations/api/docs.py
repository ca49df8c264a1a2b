"""/v1/openapi.json (drf-spectacular, see schema.py) and the human docs page."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from drf_spectacular.generators import SchemaGenerator

from generations.api.handling import page
from generations.api.mapping import IGNORED_FIELDS
from providers.catalog import ModelSpec, ParamSpec, get_catalog
from providers.labels import model_label


@cache
def _schema() -> dict[str, Any]:
    from generations.api.schema import PUBLIC_OPERATIONS, patterns

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


@dataclass(frozen=True)
class ParamDoc:
    name: str
    type: str
    rule: str
    default: str
    required: bool


@dataclass(frozen=True)
class ModelDoc:
    name: str
    label: str
    free_quota: int
    params: list[ParamDoc]


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def param_rule(p: ParamSpec) -> str:
    """What a parameter accepts, from the catalog: the docs page's 'Allowed' column."""
    if p.type == "size":
        return _("WIDTHxHEIGHT, each side %(min)s to %(max)s px") % {
            "min": _num(p.min),
            "max": _num(p.max),
        }
    if p.choices:
        return ", ".join(p.choices)
    if p.type == "images":
        return _("%(min)s to %(max)s images") % {"min": p.min_items, "max": p.max_items}
    if p.type == "image":
        return _("one image (PNG, JPEG or WebP)")
    if p.max_length:
        return _("text, at most %(max)s characters") % {"max": p.max_length}
    if p.type == "bool":
        return "true, false"
    if p.min is not None and p.max is not None:
        return f"{_num(p.min)} .. {_num(p.max)}"
    return p.type


def model_docs() -> list[ModelDoc]:
    return [_model_doc(spec) for spec in get_catalog().models.values()]


def _model_doc(spec: ModelSpec) -> ModelDoc:
    params = [
        ParamDoc(
            p.name,
            p.type,
            param_rule(p),
            ""
            if p.default is None
            else str(p.default).lower()
            if p.type == "bool"
            else str(p.default),
            p.required,
        )
        for p in spec.params.values()
    ]
    return ModelDoc(spec.name, model_label(spec.name), spec.free_quota, params)


@page
def docs_page(request: HttpRequest) -> HttpResponse:
    base = (settings.DARKROOM_PUBLIC_URL or request.build_absolute_uri("/")).rstrip("/") + "/v1"
    return render(
        request,
        "api/docs.html",
        {
            "base_url": base,
            "models": model_docs(),
            "ignored": sorted(IGNORED_FIELDS),
            "rate_limit": settings.DARKROOM_API_RATE_LIMIT,
            "max_body_mib": settings.DARKROOM_API_MAX_BODY_BYTES // 2**20,
        },
    )
