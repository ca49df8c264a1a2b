"""Board pages: thin interfaces over boards.services and boards.selectors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from boards import selectors, services
from boards.forms import BoardForm, SharingForm
from common.errors import DarkroomError
from common.streaming import serve_stored_file, streaming_response, zip_stream
from generations.models import Image
from generations.portal.services import zip_name
from generations.results import add_thumbnails


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@login_required
def board_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = BoardForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            board = services.board_create(
                owner=user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                shared_with=form.shared_with(),
            )
        except DarkroomError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("board_detail", pk=board.pk)
    context = {
        "form": form,
        "mine": selectors.boards_page(user, request.GET.get("page"), mine=True),
        "shared": selectors.boards_page(user, request.GET.get("shared_page"), mine=False),
    }
    return render(request, "boards/list.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def board_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    board = selectors.board_for(user, pk)
    editable = selectors.may_edit(user, board)
    # The owner's groups (staff with the permission share another's board with those).
    sharing = SharingForm(board.owner, initial=_sharing_initial(board)) if editable else None
    context = {
        "board": board,
        "page": selectors.board_page(board, request.GET.get("page")),
        "editable": editable,
        "sharing_form": sharing,
    }
    return render(request, "boards/detail.html", context)


def _sharing_initial(board: Any) -> dict[str, Any]:
    shared = board.shared_with()
    if isinstance(shared, list):
        return {"sharing": "groups", "groups": list(board.shared_groups.all())}
    return {"sharing": shared}


@login_required
@require_POST
def board_share(request: HttpRequest, pk: int) -> HttpResponse:
    form = SharingForm(selectors.board_for(_user(request), pk).owner, request.POST)
    if form.is_valid():
        with _owner_only():
            services.board_share(user=_user(request), board_id=pk, shared_with=form.shared_with())
        messages.success(request, _("Sharing saved."))
    return redirect("board_detail", pk=pk)


@contextmanager
def _owner_only() -> Iterator[None]:
    """Someone who may only read the board gets the 403 page, not a change."""
    try:
        yield
    except services.BoardForbidden as exc:
        raise PermissionDenied(exc.message) from exc


@login_required
@require_POST
def board_delete(request: HttpRequest, pk: int) -> HttpResponse:
    with _owner_only():
        services.board_delete(user=_user(request), board_id=pk)
    messages.success(request, _("Board deleted."))
    return redirect("boards")


@login_required
@require_POST
def board_add(request: HttpRequest) -> HttpResponse:
    """From the gallery's selection, the lightbox and the image page."""
    ids = request.POST.getlist("image")
    back = _safe_next(request) or reverse("gallery")
    try:
        board_id = request.POST.get("board") or ""
        added = services.board_add_images(user=_user(request), board_id=board_id, image_ids=ids)
    except DarkroomError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(
        request,
        ngettext(
            "%(count)d image added to the board.", "%(count)d images added to the board.", added
        )
        % {"count": added},
    )
    return redirect(back)


@login_required
@require_POST
def board_remove(request: HttpRequest, pk: int, image_id: Any) -> HttpResponse:
    with _owner_only():
        services.board_remove_image(user=_user(request), board_id=pk, image_id=image_id)
    messages.success(request, _("Image removed from the board."))
    return redirect("board_detail", pk=pk)


@login_required
@require_GET
def board_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    board = selectors.board_for(_user(request), pk)
    images = selectors.board_images(board).iterator(chunk_size=100)
    return streaming_response(
        request,
        zip_stream((zip_name(image), image.file) for image in images),
        content_type="application/zip",
        download_name=f"board-{board.pk}.zip",
    )


@login_required
@require_GET
def board_image_file(request: HttpRequest, pk: int, image_id: Any) -> HttpResponseBase:
    _, image = selectors.board_image(_user(request), pk, image_id)
    name = zip_name(image) if request.GET.get("download") else None
    return serve_stored_file(request, image.file, download_name=name)


@login_required
@require_GET
def board_image_thumbnail(request: HttpRequest, pk: int, image_id: Any) -> HttpResponseBase:
    _, image = selectors.board_image(_user(request), pk, image_id)
    if not image.thumbnail:
        add_thumbnails([image])
    return serve_stored_file(request, image.thumbnail or image.file)


@login_required
@require_GET
def board_remix(request: HttpRequest, pk: int, image_id: Any) -> HttpResponse:
    """Opens the viewer's own generate page with the image's model, prompt and settings
    (what they make from it is charged to them)."""
    _, image = selectors.board_image(_user(request), pk, image_id)
    return redirect(f"{reverse('generate')}?{urlencode(remix_query(image))}")


def remix_query(image: Image) -> dict[str, Any]:
    generation = image.generation
    params = {k: v for k, v in generation.params.items() if k not in ("n", "seed")}
    return {"model": generation.model, "prompt": generation.prompt, **params}


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next", "")
    ok = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return target if target and ok else None
