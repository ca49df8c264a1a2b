"""Boards and presets in real headless Chromium, at 1440x900 and 390x844, in English and
in zh-hans (issue 21): two people in a group share a board, the second sees it read-only
and remixes from it, a third outside the group does not see it; a preset shared with the
group is used by a member from the generate page. Every page visited fits its width and
every navigation item can be reached. Screenshots: test-artifacts/boards-*.png.

One Chromium for the module (each person gets a fresh context); each (width, language)
is one test that walks both stories with one team, so the set-up is paid four times, not
eight.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from boards.models import Board
from boards.selectors import LIST_PAGE_SIZE
from generations.models import Generation
from presets.services import preset_create
from tests.browser import LOCALES, SIZES, Browser, shot
from tests.portal_helpers import FLUX_DEV, make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWS = [(size, lang) for size in SIZES for lang in LOCALES]  # 1440x900, 390x844; en, zh


@pytest.fixture
def chromium(module_chromium: Any, live_server: Any) -> Iterator[Browser]:
    opened = Browser(module_chromium, live_server.url)
    yield opened
    for context in module_chromium.contexts:
        context.close()


def _t(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def _fits_and_reaches_every_nav_item(page: Any, where: str) -> None:
    """Nothing scrolls sideways, and each main navigation link can be seen and tapped
    (through the menu button on a phone) without leaving the screen."""
    width = page.evaluate("window.innerWidth")
    scroll = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll <= width, f"{where}: {scroll} px wide in a {width} px window"
    toggle = page.locator(".nav-toggle")
    opened = toggle.is_visible()
    if opened:
        toggle.click()
    links = page.locator("nav.nav a")
    assert links.count() >= 3, f"{where}: the navigation lost its links"
    for link in links.all():
        box = link.bounding_box()
        name = link.inner_text()
        assert link.is_visible(), f"{where}: {name!r} is hidden"
        assert box is not None, f"{where}: {name!r} has no box"
        assert box["x"] >= 0, f"{where}: {name!r} is off the left edge"
        assert box["x"] + box["width"] <= width, f"{where}: {name!r} is off the right edge"
    if opened:
        toggle.click()


@pytest.mark.parametrize(("size", "lang"), VIEWS)
def test_a_team_shares_a_board_and_a_preset(
    chromium: Browser, team: dict[str, Any], size: str, lang: str
) -> None:
    from playwright.sync_api import expect

    tag = f"{size}-{lang}"

    # alice makes a board for the group and puts three images on it.
    make_generation(team["alice"], images=3, prompt="a red kite over the dunes")
    owner = chromium.open(team["alice"], size, lang, "/boards/")
    owner.get_by_label(_t(lang, "Name", "名称")).fill("Kites")
    owner.get_by_label(_t(lang, "My groups below", "下面选中的用户组")).check()
    owner.get_by_label("studio").check()
    owner.get_by_role("button", name=_t(lang, "Create board", "创建图板")).click()
    expect(owner.get_by_role("heading", name="Kites")).to_be_visible()
    _fits_and_reaches_every_nav_item(owner, f"{tag} owner's board")
    owner.goto(chromium.base + "/history/")
    owner.locator(".tile-check").nth(0).check(force=True)
    owner.locator(".tile-check").nth(1).check(force=True)
    owner.get_by_role("button", name=_t(lang, "Add to board", "添加到图板")).click()
    expect(owner.locator(".messages, [role=status], .message").first).to_be_visible()
    board = Board.objects.get(name="Kites")
    assert board.items.count() == 2
    owner.locator(".tile-link").nth(2).click()  # the third, from the lightbox
    lightbox = owner.locator("#lightbox")
    lightbox.get_by_role("button", name=_t(lang, "Add to board", "添加到图板")).click()
    expect(owner.locator(".messages, [role=status], .message").first).to_be_visible()
    assert board.items.count() == 3
    owner.goto(chromium.base + "/boards/")
    _fits_and_reaches_every_nav_item(owner, f"{tag} boards list")
    shot(owner, f"boards-list-{tag}")

    # bob, in the group, finds it under Boards, read-only, and remixes from it.
    viewer = chromium.open(team["bob"], size, lang, "/")
    if size == "phone":  # on a phone the navigation is behind the menu button
        viewer.locator(".nav-toggle").click()
    viewer.get_by_role("navigation").get_by_role("link", name=_t(lang, "Boards", "图板")).click()
    viewer.get_by_role("link", name="Kites").click()
    expect(viewer.get_by_text(_t(lang, "Read-only", "只读"))).to_be_visible()
    expect(viewer.locator(".grid .tile img")).to_have_count(3)
    for img in viewer.locator(".grid img").all():  # served through the board
        img.scroll_into_view_if_needed()
        expect(img).not_to_have_js_property("naturalWidth", 0)
    expect(viewer.get_by_role("button", name=_t(lang, "Remove", "移除"))).to_have_count(0)
    viewer.locator(".tile-link").first.click()  # the board's own lightbox
    lightbox = viewer.locator("#lightbox")
    expect(lightbox.locator(".lightbox-count")).to_have_text("1 / 3")
    expect(lightbox.locator(".lightbox-img")).not_to_have_js_property("naturalWidth", 0)
    viewer.keyboard.press("ArrowRight")
    expect(lightbox.locator(".lightbox-count")).to_have_text("2 / 3")
    lightbox.get_by_role("button", name=_t(lang, "Close", "关闭")).click()
    expect(lightbox).to_be_hidden()
    viewer.evaluate("window.scrollTo(0, 0)")  # the sticky header back on top for the shot
    _fits_and_reaches_every_nav_item(viewer, f"{tag} shared board")
    shot(viewer, f"boards-readonly-{tag}")
    viewer.get_by_role("link", name=_t(lang, "Remix", "再创作")).first.click()
    expect(viewer.locator("textarea[name=prompt]")).to_have_value("a red kite over the dunes")

    # carol, outside the group, sees neither the board nor the group's preset; her own
    # boards come a page at a time.
    Board.objects.bulk_create(Board(owner=team["carol"], name=f"carol {i:02d}") for i in range(30))
    outsider = chromium.open(team["carol"], size, lang, "/boards/")
    expect(outsider.get_by_role("link", name="Kites")).to_have_count(0)
    expect(outsider.locator(".board-row")).to_have_count(LIST_PAGE_SIZE)
    _fits_and_reaches_every_nav_item(outsider, f"{tag} a page of boards")
    shot(outsider, f"boards-paged-{tag}")
    outsider.get_by_role("link", name=_t(lang, "Next", "下一页")).click()
    expect(outsider.locator(".board-row")).to_have_count(30 - LIST_PAGE_SIZE)

    # bob uses alice's group preset from the generate page, found by the server's search.
    preset_create(
        owner=team["alice"],
        name="Product shot",
        model=FLUX_DEV,
        params={"size": "768x768"},
        template="Product shot of {product} on {background}",
        shared_with=["studio"],
    )
    viewer.goto(chromium.base + "/")
    viewer.get_by_text(_t(lang, "Use a preset", "使用预设")).click()
    with viewer.expect_response(lambda r: "/presets/options/" in r.url):
        viewer.get_by_placeholder(_t(lang, "Search presets…", "搜索预设…")).fill("product")
    viewer.get_by_role("link", name="Product shot").click()
    viewer.get_by_label("product", exact=True).fill("a teapot")
    viewer.get_by_label("background", exact=True).fill("slate")
    _fits_and_reaches_every_nav_item(viewer, f"{tag} generate with a preset")
    shot(viewer, f"boards-preset-{tag}")
    viewer.locator("#generate-form button[type=submit]").last.click()
    expect(viewer.locator("#jobs .job").first).to_contain_text("Product shot of a teapot on slate")
    generation = Generation.objects.get(user=team["bob"])
    assert generation.preset is not None
    assert generation.params["size"] == "768x768"

    outsider.goto(chromium.base + "/")
    outsider.get_by_text(_t(lang, "Use a preset", "使用预设")).click()
    expect(outsider.get_by_role("link", name="Product shot")).to_have_count(0)
    assert chromium.errors == []
    response = outsider.goto(f"{chromium.base}/boards/{board.pk}/")  # (logs its own 404)
    assert response is not None
    assert response.status == 404
