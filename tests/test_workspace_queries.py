"""Boards and presets lists take a bounded number of queries, however many there are
(no query per board, group or image). The timing at scale is bench/p7_workspace.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from boards.api.views import _detail, _list
from boards.models import Board, BoardImage
from boards.selectors import LIST_PAGE_SIZE
from generations.api.presets import _list as presets_list
from presets.models import Preset
from presets.selectors import PICKER_SIZE
from tests.portal_helpers import FLUX_DEV, make_generation

pytestmark = pytest.mark.django_db


def _fill(owner: Any, viewer: Any, count: int) -> Board:
    groups = [Group.objects.create(name=f"g{owner.pk}-{i}") for i in range(3)]
    viewer.groups.add(*groups)
    images = list(make_generation(owner, images=3).images.all())
    boards = Board.objects.bulk_create(
        [Board(owner=owner, name=f"b{i}", shared_everyone=i % 2 == 0) for i in range(count)]
    )
    presets = Preset.objects.bulk_create(
        [Preset(owner=owner, name=f"p{i}", model=FLUX_DEV, template="{x}") for i in range(count)]
    )
    for board, preset in zip(boards, presets, strict=True):
        board.shared_groups.add(*groups)
        preset.shared_groups.add(*groups)
    BoardImage.objects.bulk_create([BoardImage(board=b, image=i) for b in boards for i in images])
    return boards[0]


@pytest.mark.parametrize("count", [2, 60])
def test_boards_and_presets_lists_take_the_same_few_queries(
    count: int, user: Any, other_user: Any, django_assert_max_num_queries: Any
) -> None:
    board = _fill(user, other_user, count)
    client = Client()
    client.force_login(other_user)
    with django_assert_max_num_queries(4):  # a page of 48, its count, its groups
        assert len(_list(other_user)["data"]) == min(count, 48)
    with django_assert_max_num_queries(4):
        assert len(presets_list(other_user)["data"]) == min(count, 48)
    with django_assert_max_num_queries(6):
        assert len(_detail(other_user, board.pk, 1, 48, "http://x/")["data"]) == 3
    with django_assert_max_num_queries(12):  # session, user, messages, then the page's own
        page = client.get(reverse("boards"))
    assert page.content.decode().count('class="board-row"') == min(count, LIST_PAGE_SIZE)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("board_detail", args=[board.pk])).status_code == 200
    with django_assert_max_num_queries(20):
        picker = client.get(reverse("generate")).content.decode()
    assert picker.count("?preset=") == min(count, PICKER_SIZE)
