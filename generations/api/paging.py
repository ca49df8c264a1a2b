"""`page` and `per_page` for the /v1 lists (boards, a board's images, presets): one
reading of them, and one shape of answer (`page`, `has_more`, `data`)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.http import HttpRequest

from common.errors import InvalidRequest

PER_PAGE, MAX_PER_PAGE = 48, 100


def page_params(request: HttpRequest) -> tuple[int, int]:
    """(page, per_page) from the query string: whole numbers from 1, per_page at most 100."""
    page, per_page = _positive(request, "page", 1), _positive(request, "per_page", PER_PAGE)
    if per_page > MAX_PER_PAGE:
        raise InvalidRequest(f"'per_page' is at most {MAX_PER_PAGE}.", param="per_page")
    return page, per_page


def paged(page: Page[Any], data: list[dict[str, Any]]) -> dict[str, Any]:
    """A page of a list as the API answers it (a page past the end answers the last)."""
    return {"object": "list", "page": page.number, "has_more": page.has_next(), "data": data}


def _positive(request: HttpRequest, name: str, default: int) -> int:
    try:
        value = int(request.GET.get(name, default))
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidRequest(f"'{name}' must be a positive whole number.", param=name)
    return value
