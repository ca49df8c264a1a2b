"""/v1/boards: boards for internal tools, with the keys, errors and image URLs of /v1/images.

Thin async views: the key, then one service or selector call in a thread.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from accounts.models import User
from boards import selectors, services
from boards.models import Board
from generations.api.auth import authenticate
from generations.api.handling import endpoint
from generations.api.paging import PER_PAGE, page_params, paged
from generations.api.presets import json_body
from generations.api.responses import base_url, image_item
from generations.sync import run_sync


@endpoint("GET", "POST")
async def boards(request: HttpRequest) -> HttpResponseBase:
    key = await authenticate(request)
    if request.method == "POST":
        body = json_body(request)
        return JsonResponse(await run_sync(_create, key.user, body), status=201)
    page, per_page = page_params(request)
    return JsonResponse(await run_sync(_list, key.user, page, per_page))


def _list(user: User, page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
    found = selectors.boards_page(user, page, per_page)
    return paged(found, [board_item(b) for b in found])


def _create(user: User, body: dict[str, Any]) -> dict[str, Any]:
    board = services.board_create(
        owner=user,
        name=body.get("name"),
        description=body.get("description", ""),
        shared_with=body.get("shared_with"),
    )
    return board_item(selectors.board_for(user, board.pk))


@endpoint("GET", "DELETE")
async def board(request: HttpRequest, board_id: int) -> HttpResponseBase:
    key = await authenticate(request)
    if request.method == "DELETE":
        await run_sync(services.board_delete, user=key.user, board_id=board_id)
        return HttpResponse(status=204)
    page, per_page = page_params(request)
    body = await run_sync(_detail, key.user, board_id, page, per_page, base_url(request))
    return JsonResponse(body)


def _detail(user: User, board_id: int, page: int, per_page: int, base: str) -> dict[str, Any]:
    found = selectors.board_for(user, board_id)
    images = selectors.board_page(found, page, per_page)
    return {
        **board_item(found),
        "page": images.number,
        "has_more": images.has_next(),
        "data": [image_item(image, base) for image in images],
    }


@endpoint("POST")
async def board_images(request: HttpRequest, board_id: int) -> HttpResponseBase:
    key = await authenticate(request)
    body = json_body(request)
    return JsonResponse(await run_sync(_add, key.user, board_id, body.get("image_ids")))


def _add(user: User, board_id: int, image_ids: Any) -> dict[str, Any]:
    added = services.board_add_images(user=user, board_id=board_id, image_ids=image_ids)
    return {**board_item(selectors.board_for(user, board_id)), "added": added}


@endpoint("DELETE")
async def board_image(request: HttpRequest, board_id: int, image_id: str) -> HttpResponseBase:
    key = await authenticate(request)
    await run_sync(services.board_remove_image, user=key.user, board_id=board_id, image_id=image_id)
    return HttpResponse(status=204)


def board_item(board: Board) -> dict[str, Any]:
    """A board as the API lists it (from `selectors.visible_boards`)."""
    return {
        "id": board.pk,
        "object": "board",
        "name": board.name,
        "description": board.description,
        "owner": board.owner.get_username(),
        "shared_with": board.shared_with(),
        "image_count": getattr(board, "image_count", 0),
        "created": int(board.created_at.timestamp()),
    }
