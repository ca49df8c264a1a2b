"""Board reads: which boards a person sees, and a board's images, in bounded queries."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.models import User
from boards.models import Board, BoardImage
from generations.models import Image
from presets.sharing import visible_q, with_group_names

PAGE_SIZE = 48  # a board's images
LIST_PAGE_SIZE = 24  # the portal's boards, per section


def visible_boards(user: User) -> QuerySet[Board]:
    """Boards `user` may see, each with its image count and owner."""
    return _annotated(Board.objects.filter(visible_q(Board, user)))


def _annotated(boards: QuerySet[Board]) -> QuerySet[Board]:
    return boards.select_related("owner").annotate(image_count=Count("items"))


def boards_page(
    user: User, number: Any, size: int = LIST_PAGE_SIZE, *, mine: bool | None = None
) -> Page[Board]:
    """One page of the boards `user` sees (only theirs if `mine`, only others' if
    `mine` is False), by name, with who each is shared with: 3 queries however many."""
    boards = visible_boards(user).order_by("name", "pk")  # Count() drops Meta.ordering
    if mine is not None:
        boards = boards.filter(owner=user) if mine else boards.exclude(owner=user)
    page = Paginator(boards, size).get_page(number)
    page.object_list = with_group_names(list(page.object_list))
    return page


def board_for(user: User, board_id: Any) -> Board:
    """The board if `user` may see it; otherwise (or a malformed id) a 404."""
    try:
        pk = int(board_id)
    except (TypeError, ValueError):
        raise Http404("No such board.") from None
    boards = visible_boards(user)
    if user.is_staff and user.has_perm("boards.change_board"):
        boards = _annotated(Board.objects.all())  # staff with the permission reach any
    board = boards.filter(pk=pk).first()
    if board is None:
        raise Http404("No such board.")
    return board


def may_edit(user: User, board: Board) -> bool:
    """Its owner; staff holding the change permission too (their edits are audited)."""
    return board.owner_id == user.pk or (user.is_staff and user.has_perm("boards.change_board"))


def board_images(board: Board) -> QuerySet[Image]:
    """The board's images, newest addition first."""
    return (
        Image.objects.filter(board_items__board=board)
        .select_related("generation")
        .order_by("-board_items__added_at", "-board_items__pk")
    )


def board_page(board: Board, number: Any, size: int = PAGE_SIZE) -> Page[Image]:
    return Paginator(board_images(board), size).get_page(number)


def board_image(user: User, board_id: Any, image_id: Any) -> tuple[Board, Image]:
    """An image on a board `user` sees (what a viewer may open, download or remix)."""
    board = board_for(user, board_id)
    item = (
        BoardImage.objects.select_related("image__generation")
        .filter(board=board, image_id=_uuid(image_id))
        .first()
    )
    if item is None:
        raise Http404("No such image on this board.")
    return board, item.image


def on_shared_boards() -> Q:
    """Images on a board someone else may see: retention keeps them, as if starred."""
    shared = Board.objects.filter(Q(shared_everyone=True) | Q(shared_groups__isnull=False))
    return Q(pk__in=BoardImage.objects.filter(board__in=shared).values("image_id"))


def boards_to_add_to(user: User) -> QuerySet[Board]:
    """The boards `user` may add images to (their own; staff edits go through the admin)."""
    return Board.objects.filter(owner=user).only("pk", "name").order_by("name", "pk")


def _uuid(value: Any) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise Http404("No such image.") from None
