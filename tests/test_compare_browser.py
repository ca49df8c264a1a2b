""" "Compare" in real headless Chromium, at desktop and phone widths, in English and
Chinese: three models, each with its own settings, one reference image, and one model
with no free images left. Screenshots land in test-artifacts/compare-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from generations.models import Generation
from tests.browser import LOCALES, SIZES, Browser, shot
from tests.images import png_bytes
from tests.portal_helpers import FLUX_DEV

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KONTEXT_T2I = "black-forest-labs/flux-kontext-pro/text-to-image"  # aspect ratio, no references
SCHNELL = "black-forest-labs/flux-schnell"  # no free images in the catalog
MODELS = (FLUX_DEV, KONTEXT_T2I, SCHNELL)
VIEWS = [(size, lang) for size in SIZES for lang in LOCALES]


def _t(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def _fits(page: Any) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize(("size", "lang"), VIEWS)
def test_a_comparison_of_three_models_where_one_has_no_quota_left(
    chromium: Browser, django_user_model: Any, size: str, lang: str
) -> None:
    from playwright.sync_api import expect

    alice = django_user_model.objects.create_user("alice", "alice@ex.com", "pw-1234567")
    page = chromium.open(alice, size, lang, "/")
    page.locator("textarea[name=prompt]").fill("a lighthouse at dusk")  # typed, then compared
    page.get_by_role("link", name=_t(lang, "Compare models", "多模型对比")).click()
    expect(page.locator("textarea[name=prompt]")).to_have_value("a lighthouse at dusk")
    choose = {m: page.locator(f'.compare-model[data-model="{m}"]') for m in MODELS}
    flux, t2i, schnell = (page.locator(f'.compare-panel[data-params-for="{m}"]') for m in MODELS)
    expect(choose[SCHNELL]).to_contain_text(_t(lang, "no free images left", "免费图片已用完"))
    expect(flux).to_be_hidden()  # until it is chosen
    expect(page.locator("[data-compare-empty]")).to_be_visible()
    assert _fits(page)
    shot(page, f"compare-empty-{size}-{lang}")
    for model in MODELS:
        choose[model].locator("input[name=models]").check()
    expect(schnell).to_be_visible()
    size_picker = flux.get_by_label(_t(lang, "Size", "尺寸"))
    expect(size_picker).to_have_value("1024x1024")  # the catalog's default
    size_picker.select_option("768x1024")
    expect(t2i.get_by_label(_t(lang, "Size", "尺寸"))).to_have_count(0)  # an aspect ratio instead
    t2i.get_by_label("16:9").check()
    expect(t2i).to_contain_text(_t(lang, "Takes no reference images", "不接受参考图片"))
    page.locator("input[name=images]").set_input_files(
        [{"name": "ref.png", "mimeType": "image/png", "buffer": png_bytes(48, 48, "teal")}]
    )
    expect(page.locator("[data-previews] img")).to_have_count(1)
    assert _fits(page)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header back on top for the shot
    shot(page, f"compare-form-{size}-{lang}")

    page.get_by_role("button", name=_t(lang, "Compare", "对比"), exact=True).click()
    expect(page.locator(".compare-col")).to_have_count(3)
    expect(page.locator(f'.compare-refused[data-model="{SCHNELL}"]')).to_contain_text(
        _t(lang, "No free images left for this model.", "这个模型的免费图片已用完。")
    )
    expect(page.locator(f'.compare-col[data-model="{FLUX_DEV}"]')).to_contain_text(
        "768 \u00d7 1024"
    )
    expect(page.locator(f'.compare-col[data-model="{KONTEXT_T2I}"]')).to_contain_text(
        _t(
            lang,
            "This model takes no reference images: it got the prompt only.",
            "此模型不接受参考图片\uff1a只收到了提示词。",
        )
    )
    jobs = {g.model: g for g in Generation.objects.filter(user=alice)}
    assert sorted(jobs) == sorted([FLUX_DEV, KONTEXT_T2I])
    assert jobs[FLUX_DEV].params["size"] == "768x1024"
    assert jobs[FLUX_DEV].references.count() == 1
    assert jobs[KONTEXT_T2I].params["aspect_ratio"] == "16:9"
    assert jobs[KONTEXT_T2I].references.count() == 0
    assert _fits(page)
    shot(page, f"compare-result-{size}-{lang}")
    assert chromium.errors == []
