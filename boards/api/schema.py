"""The /v1/boards routes in the OpenAPI document: documentation-only views, registered
into generations.api.schema (which cannot import this app) when boards loads."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.views import APIView

from generations.api import schema as api_schema

S = serializers
SHARED_WITH = S.JSONField(
    help_text='"private", "everyone", or a list of names of groups you are in.', required=False
)
Board = inline_serializer(
    "Board",
    {
        "id": S.IntegerField(),
        "object": S.CharField(default="board"),
        "name": S.CharField(),
        "description": S.CharField(),
        "owner": S.CharField(help_text="The owner's username."),
        "shared_with": SHARED_WITH,
        "image_count": S.IntegerField(),
        "created": S.IntegerField(),
    },
)
BoardList = inline_serializer("BoardList", {**api_schema.PAGED, "data": Board.__class__(many=True)})
BoardImages = inline_serializer(
    "BoardWithImages",
    {
        "id": S.IntegerField(),
        "name": S.CharField(),
        "owner": S.CharField(),
        "shared_with": SHARED_WITH,
        "image_count": S.IntegerField(),
        "page": S.IntegerField(),
        "has_more": S.BooleanField(),
        "data": api_schema.ImageItem.__class__(many=True),
    },
)
BoardRequest = inline_serializer(
    "BoardRequest",
    {
        "name": S.CharField(),
        "description": S.CharField(required=False),
        "shared_with": SHARED_WITH,
    },
)
AddImages = inline_serializer(
    "BoardImagesRequest",
    {"image_ids": S.ListField(child=S.UUIDField(), help_text="Images of the owner's jobs.")},
)
ERRORS = {
    status: OpenApiResponse(api_schema.Error, description=text)
    for status, text in {
        400: "invalid_request_error, with `param`",
        401: "invalid_api_key",
        403: "permission_denied: the caller may only read this board",
        404: "not_found: no board the caller may see",
    }.items()
}
PAGING = api_schema.PAGING


class BoardsDoc(APIView):
    @extend_schema(
        operation_id="listBoards", parameters=PAGING, responses={200: BoardList, **ERRORS}
    )
    def get(self, request: object) -> None: ...

    @extend_schema(
        operation_id="createBoard", request=BoardRequest, responses={201: Board, **ERRORS}
    )
    def post(self, request: object) -> None: ...


class BoardDoc(APIView):
    @extend_schema(
        operation_id="retrieveBoard", parameters=PAGING, responses={200: BoardImages, **ERRORS}
    )
    def get(self, request: object, board_id: int) -> None: ...

    @extend_schema(operation_id="deleteBoard", responses={204: None, **ERRORS})
    def delete(self, request: object, board_id: int) -> None: ...


class BoardImagesDoc(APIView):
    @extend_schema(
        operation_id="addBoardImages", request=AddImages, responses={200: Board, **ERRORS}
    )
    def post(self, request: object, board_id: int) -> None: ...


class BoardImageDoc(APIView):
    @extend_schema(operation_id="removeBoardImage", responses={204: None, **ERRORS})
    def delete(self, request: object, board_id: int, image_id: str) -> None: ...


api_schema.DOCS.update(
    {
        "boards": BoardsDoc,
        "board": BoardDoc,
        "board-images": BoardImagesDoc,
        "board-image": BoardImageDoc,
    }
)
if "boards-api" not in api_schema.API_NAMESPACES:
    api_schema.API_NAMESPACES.append("boards-api")
