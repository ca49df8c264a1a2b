"""Compare in real headless Chromium, at 1440 px in English and at phone width in
Chinese. Screenshots land in test-artifacts/workspace-*.png. (Boards and presets are
in tests/test_boards_browser.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from generations.models import Generation
from tests.browser import Browser, shot
from tests.portal_helpers import FLUX_DEV

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
