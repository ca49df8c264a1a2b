"""Board writes. Only a board's owner changes it; staff with the permission may too,
and each of their changes is audited. Images added must be the owner's own."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction

from accounts.audit import audit_record
from accounts.models import User
from boards.models import Board, BoardImage
from boards.selectors import board_for, may_edit
from common.errors import DarkroomError, InvalidRequest
from generations.models import Image
from presets.sharing import apply_sharing, parse_shared_with

# One request adds at most this many images (the gallery's selection is smaller).
MAX_ADD = 200


class BoardForbidden(DarkroomError):
    """The caller may see the board but not change it."""

    status = 403
    code = "permission_denied"


def board_create(
    *, owner: User, name: Any, description: Any = "", shared_with: Any = None
) -> Board:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("'name' is required.", param="name")
    if len(name.strip()) > 120:
        raise InvalidRequest("'name' is longer than 120 characters.", param="name")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise InvalidRequest("'description' must be text.", param="description")
    everyone, groups = parse_shared_with(shared_with, owner=owner)
    with transaction.atomic():
        board = Board.objects.create(owner=owner, name=name.strip(), description=description)
        apply_sharing(board, everyone=everyone, groups=groups)
    return board


def board_share(*, user: User, board_id: Any, shared_with: Any) -> Board:
    board = editable_board(user, board_id)
    # The owner's groups, also when staff with the permission change the sharing.
    everyone, groups = parse_shared_with(shared_with, owner=board.owner)
    with transaction.atomic():
        apply_sharing(board, everyone=everyone, groups=groups)
        _audit_staff(user, board, "board shared", {"shared_with": board.shared_with()})
    return board


def editable_board(user: User, board_id: Any) -> Board:
    """The board if `user` may change it: 404 if they cannot see it, 403 if only read."""
    board = board_for(user, board_id)
    if not may_edit(user, board):
        raise BoardForbidden("Only the board's owner may change it.", param="board")
    return board


def board_add_images(*, user: User, board_id: Any, image_ids: Any) -> int:
    """Add images of the board owner's generations; returns how many were new on it."""
    board = editable_board(user, board_id)
    ids = _image_ids(image_ids)
    found = set(
        Image.objects.filter(pk__in=ids, generation__user_id=board.owner_id).values_list(
            "pk", flat=True
        )
    )
    unknown = [str(i) for i in ids if i not in found]
    if unknown:
        raise InvalidRequest(
            f"No image '{unknown[0]}' among the board owner's images.", param="image_ids"
        )
    with transaction.atomic():
        made = BoardImage.objects.bulk_create(
            [BoardImage(board=board, image_id=pk) for pk in ids], ignore_conflicts=True
        )
        _audit_staff(user, board, "board images added", {"images": [str(i) for i in ids]})
    return len(made)


def _image_ids(value: Any) -> list[UUID]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            "'image_ids' must be a non-empty list of image ids.", param="image_ids"
        )
    if len(value) > MAX_ADD:
        raise InvalidRequest(f"Add at most {MAX_ADD} images at once.", param="image_ids")
    ids: list[UUID] = []
    for item in value:
        try:
            ids.append(UUID(str(item)))
        except ValueError:
            raise InvalidRequest(f"'{item}' is not an image id.", param="image_ids") from None
    return list(dict.fromkeys(ids))


def board_remove_image(*, user: User, board_id: Any, image_id: Any) -> bool:
    board = editable_board(user, board_id)
    try:
        pk = UUID(str(image_id))
    except ValueError:
        return False
    with transaction.atomic():
        removed, _ = BoardImage.objects.filter(board=board, image_id=pk).delete()
        if removed:
            _audit_staff(user, board, "board image removed", {"image": str(pk)})
    return bool(removed)


def board_delete(*, user: User, board_id: Any) -> None:
    board = editable_board(user, board_id)
    with transaction.atomic():
        _audit_staff(user, board, "board deleted", {})
        board.delete()


def boards_erase(user: User) -> None:
    """Erasure: a person's boards go with their images (their names are theirs too)."""
    Board.objects.filter(owner=user).delete()


def _audit_staff(actor: User, board: Board, action: str, detail: dict[str, Any]) -> None:
    """A change by someone other than the owner (staff with the permission) is audited."""
    if board.owner_id == actor.pk:
        return
    audit_record(
        action=action,
        subject=f"board {board.name}",
        actor=actor,
        target_type="board",
        target_id=board.pk,
        user=board.owner,
        detail={"board": board.name, **detail},
    )
