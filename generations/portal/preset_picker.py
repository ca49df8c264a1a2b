"""The generate page's preset picker: a bounded list (the first PICKER_SIZE by name) that
a search on the server narrows, so a team with thousands of presets still gets a quick
page. Without JavaScript the search reloads the generate page with `presets_q`."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.models import User
from presets.selectors import PICKER_SIZE, presets_matching

SEARCH_MAX = 200  # characters of search text looked at


def picker_options(user: User, words: str) -> dict[str, Any]:
    words = words.strip()[:SEARCH_MAX]
    shown, more = presets_matching(user, words)
    return {
        "presets": shown,
        "presets_more": more,
        "preset_words": words,
        "picker_size": PICKER_SIZE,
    }


@login_required
@require_GET
def preset_options(request: HttpRequest) -> HttpResponse:
    """The picker's list for a search (htmx swaps it in as the person types)."""
    context = picker_options(cast(User, request.user), request.GET.get("presets_q", ""))
    return render(request, "generations/_preset_options.html", context)
