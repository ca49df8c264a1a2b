"""For generations' pages (which cannot import this app): the boards a person may add to."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.models import User
from boards.models import Board
from boards.selectors import boards_to_add_to

register = template.Library()


@register.simple_tag
def my_boards(user: User) -> list[Board]:
    return list(boards_to_add_to(user)) if user.is_authenticated else []


@register.inclusion_tag("boards/_add_to_board.html", takes_context=True)
def add_to_board(context: dict[str, Any], image: Any = None, form_id: str = "") -> dict[str, Any]:
    """The "Add to board" control: a board picker and a button; `form_id` makes it submit
    another form (the gallery's selection), `image` a single image (image page, lightbox)."""
    request = context["request"]
    # One query per page, however many pickers it shows (selection bar, lightbox).
    if not hasattr(request, "_my_boards"):
        request._my_boards = my_boards(request.user)
    return {
        "boards": request._my_boards,
        "image": image,
        "form_id": form_id,
        "next": context["request"].get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }
