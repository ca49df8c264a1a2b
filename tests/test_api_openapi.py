"""The OpenAPI document names every /v1 route, with the methods each one serves."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import URLPattern

from boards.api import urls as board_urls
from generations.api import urls
from generations.api.schema import UNDOCUMENTED

pytestmark = pytest.mark.django_db
SAMPLE = {"uuid": str(uuid.uuid4()), "path": "some/model", "str": "x", "int": "1", "slug": "x"}
METHODS = ("get", "post", "put", "patch", "delete")


def _routes() -> dict[str, str]:
    """Route name -> route string, for every named /v1 route."""
    return {
        p.name: str(p.pattern)
        for p in [*board_urls.urlpatterns, *urls.urlpatterns]
        if isinstance(p, URLPattern) and p.name and p.name not in UNDOCUMENTED
    }


_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")  # re_path's (?P<name>...)
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")  # path()'s <type:name>


def _openapi_path(route: str) -> str:
    route = _REGEX_GROUP.sub(r"{\1}", route.removeprefix("^").removesuffix("$"))
    return "/v1/" + _CONVERTER.sub(r"{\2}", route)


def _sample_url(route: str) -> str:
    route = _REGEX_GROUP.sub(SAMPLE["path"], route.removeprefix("^").removesuffix("$"))
    return "/v1/" + _CONVERTER.sub(lambda m: SAMPLE[m[1] or "str"], route)


def _document(client: Client) -> dict:
    return client.get("/v1/openapi.json").json()


def test_every_v1_route_is_in_the_openapi_document_and_nothing_else(client: Client) -> None:
    routes = _routes()
    assert {"images-variations", "image-file", "boards", "board-image", "presets"} <= set(routes)
    assert set(_document(client)["paths"]) == {_openapi_path(r) for r in routes.values()}


def test_the_document_lists_exactly_the_methods_each_route_serves(client: Client) -> None:
    paths = _document(client)["paths"]
    wrong = {}
    for route in _routes().values():
        url = _sample_url(route)
        served = {m for m in METHODS if getattr(client, m)(url).status_code != 405}
        documented = set(paths[_openapi_path(route)])
        if served != documented:
            wrong[route] = (served, documented)
    assert wrong == {}


def test_the_routes_left_out_are_only_the_documents_own() -> None:
    named = {p.name for p in urls.urlpatterns if isinstance(p, URLPattern) and p.name}
    assert named >= UNDOCUMENTED
    assert {"openapi", "docs"} == UNDOCUMENTED


def test_the_image_file_route_needs_no_key_and_the_rest_do(client: Client) -> None:
    document = _document(client)
    assert document["security"] == [{"bearer": []}]
    public = [
        op["operationId"]
        for ops in document["paths"].values()
        for op in ops.values()
        if op.get("security") == []
    ]
    assert public == ["getImageFile"]
