"""Boards, presets and Compare in real headless Chromium, at 1440 px in English and at
phone width in Chinese. Screenshots land in test-artifacts/workspace-*.png."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from boards.models import Board
from generations.models import Generation
from presets.services import preset_create
from tests.browser import Browser, shot
from tests.portal_helpers import FLUX_DEV, make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KONTEXT_T2I = "black-forest-labs/flux-kontext-pro/text-to-image"
SCHNELL = "black-forest-labs/flux-schnell"  # no free images in the catalog
VIEWS = [("desktop", "en"), ("phone", "zh")]


@pytest.fixture
def team(django_user_model: Any) -> dict[str, Any]:
    group = Group.objects.create(name="studio")
    people = {
        n: django_user_model.objects.create_user(n, f"{n}@ex.com", "pw-1234567")
        for n in ("alice", "bob", "carol")
    }
    group.user_set.add(people["alice"], people["bob"])
    return people


def _t(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def _fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


@pytest.mark.parametrize(("size", "lang"), VIEWS)
def test_two_people_share_a_board_and_a_third_does_not_see_it(
    chromium: Browser, team: dict[str, Any], size: str, lang: str
) -> None:
    from playwright.sync_api import expect

    make_generation(team["alice"], images=3, prompt="a red kite over the dunes")
    page = chromium.open(team["alice"], size, lang, "/boards/")
    page.get_by_label(_t(lang, "Name", "名称")).fill("Kites")
    page.get_by_label(_t(lang, "My groups below", "下面选中的用户组")).check()
    page.get_by_label("studio").check()
    page.get_by_role("button", name=_t(lang, "Create board", "创建图板")).click()
    expect(page.get_by_role("heading", name="Kites")).to_be_visible()

    page.goto(chromium.base + "/history/")
    page.locator(".tile-check").nth(0).check(force=True)
    page.locator(".tile-check").nth(1).check(force=True)
    page.get_by_role("button", name=_t(lang, "Add to board", "添加到图板")).click()
    expect(page.locator(".messages, [role=status], .message").first).to_be_visible()
    board = Board.objects.get(name="Kites")
    assert board.items.count() == 2
    shot(page, f"workspace-gallery-added-{size}-{lang}")
    page.locator(".tile-link").nth(2).click()  # the third, from the lightbox
    lightbox = page.locator("#lightbox")
    lightbox.get_by_role("button", name=_t(lang, "Add to board", "添加到图板")).click()
    expect(page.locator(".messages, [role=status], .message").first).to_be_visible()
    assert board.items.count() == 3

    viewer = chromium.open(team["bob"], size, lang, "/")
    if size == "phone":  # on a phone the navigation is behind the menu button
        viewer.locator(".nav-toggle").click()
    viewer.get_by_role("navigation").get_by_role("link", name=_t(lang, "Boards", "图板")).click()
    viewer.get_by_role("link", name="Kites").click()
    expect(viewer.get_by_text(_t(lang, "Read-only", "只读"))).to_be_visible()
    expect(viewer.locator(".grid .tile img")).to_have_count(3)
    # The owner's images load for the viewer (served through the board, not the gallery).
    for img in viewer.locator(".grid img").all():
        img.scroll_into_view_if_needed()
        expect(img).not_to_have_js_property("naturalWidth", 0)
    expect(viewer.get_by_role("button", name=_t(lang, "Remove", "移除"))).to_have_count(0)
    assert _fits(viewer)
    viewer.evaluate("window.scrollTo(0, 0)")  # the sticky header back on top for the shot
    shot(viewer, f"workspace-board-readonly-{size}-{lang}")
    viewer.get_by_role("link", name=_t(lang, "Remix", "再创作")).first.click()
    expect(viewer.locator("textarea[name=prompt]")).to_have_value("a red kite over the dunes")
    shot(viewer, f"workspace-remix-{size}-{lang}")

    outsider = chromium.open(team["carol"], size, lang, "/boards/")
    expect(outsider.get_by_role("link", name="Kites")).to_have_count(0)
    assert chromium.errors == []
    response = outsider.goto(f"{chromium.base}/boards/{board.pk}/")  # (logs its own 404)
    assert response is not None
    assert response.status == 404


@pytest.mark.parametrize(("size", "lang"), VIEWS)
def test_a_member_uses_a_group_preset_from_the_generate_page(
    chromium: Browser, team: dict[str, Any], size: str, lang: str
) -> None:
    from playwright.sync_api import expect

    preset_create(
        owner=team["alice"],
        name="Product shot",
        model=FLUX_DEV,
        params={"size": "768x768"},
        template="Product shot of {product} on {background}",
        shared_with=["studio"],
    )
    page = chromium.open(team["bob"], size, lang, "/")
    page.get_by_text(_t(lang, "Use a preset", "使用预设")).click()
    page.get_by_placeholder(_t(lang, "Search presets…", "搜索预设…")).fill("product")
    page.get_by_role("link", name="Product shot").click()
    page.get_by_label("product", exact=True).fill("a teapot")
    page.get_by_label("background", exact=True).fill("slate")
    assert _fits(page)
    shot(page, f"workspace-preset-{size}-{lang}")
    page.locator("#generate-form button[type=submit]").last.click()
    expect(page.locator("#jobs .job").first).to_contain_text("Product shot of a teapot on slate")
    generation = Generation.objects.get(user=team["bob"])
    assert generation.preset is not None
    assert generation.params["size"] == "768x768"

    outsider = chromium.open(team["carol"], size, lang, "/")
    outsider.get_by_text(_t(lang, "Use a preset", "使用预设")).click()
    expect(outsider.get_by_role("link", name="Product shot")).to_have_count(0)
    assert chromium.errors == []


@pytest.mark.parametrize(("size", "lang"), VIEWS)
def test_a_comparison_of_three_models_where_one_has_no_quota(
    chromium: Browser, team: dict[str, Any], size: str, lang: str
) -> None:
    from playwright.sync_api import expect

    page = chromium.open(team["alice"], size, lang, "/")
    page.get_by_role("link", name=_t(lang, "Compare models", "多模型对比")).click()
    page.locator("textarea[name=prompt]").fill("a lighthouse at dusk")
    for model in (FLUX_DEV, KONTEXT_T2I, SCHNELL):
        page.locator(f'input[name=models][value="{model}"]').check()
    page.get_by_role("button", name=_t(lang, "Compare", "对比"), exact=True).click()
    expect(page.locator(".compare-col")).to_have_count(3)
    expect(page.locator(".compare-refused")).to_contain_text(
        _t(lang, "No free images left for this model.", "这个模型的免费图片已用完。")
    )
    assert Generation.objects.filter(user=team["alice"]).count() == 2
    assert _fits(page)
    shot(page, f"workspace-compare-{size}-{lang}")
    assert chromium.errors == []
