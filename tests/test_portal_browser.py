"""A person's day in the portal, in real headless Chromium.

Everything is real except the upstream: the live server (pytest-django), a
Celery worker process on Redis + PostgreSQL and the simulator process
(tests/live.py). Submitting only enqueues; the worker does the upstream call,
and the page learns the outcome by polling, as in production.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from generations.models import Generation, Image
from tests.browser import shot
from tests.live import Worker

PROMPT = "a lighthouse on a cliff at dusk, film photo"

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def browser_page(module_browser_page: Any) -> Any:
    """A fresh context for each test, in one Chromium for the module."""
    return module_browser_page


def test_it_walks_a_person_through_the_portal(
    browser_page: Any,
    live_server: Any,
    live_worker: Worker,
    django_user_model: Any,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    user = django_user_model.objects.create_user("dana", "dana@example.com", "pw-dana-4321")

    # Sign in: every page sends a visitor there first.
    page.goto(f"{base}/history/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("pw-dana-4321")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    page.get_by_role("link", name="Generate", exact=True).click()

    # The form follows the model without a reload.
    page.evaluate("window.__same_page = true")
    model = page.get_by_label("Model", exact=True)
    model.select_option("black-forest-labs/flux-kontext-pro/text-to-image")
    expect(page.get_by_role("group", name="Aspect ratio")).to_be_visible()
    expect(page.locator('select[name="size"]')).to_have_count(0)
    model.select_option("black-forest-labs/flux.1-dev")
    expect(page.get_by_label("Size")).to_be_visible()
    expect(page.get_by_text("free images left of 10")).to_be_visible()
    assert page.evaluate("window.__same_page") is True

    # Generate two images with flux.1-dev; the job shows at once, then turns to done.
    page.get_by_label("Prompt", exact=True).fill(PROMPT)
    page.locator("label.chip", has_text="2").click()
    shot(page, "generate")
    page.get_by_role("button", name="Generate").click()
    job = page.locator("#jobs .job").first
    expect(job).to_contain_text(PROMPT)
    expect(job.locator(".badge")).to_have_text(re.compile("Queued|Running|Done"))
    expect(job.locator(".badge")).to_have_text("Done", timeout=60_000)
    expect(job.locator(".job-images img")).to_have_count(2)
    assert page.evaluate("window.__same_page") is True
    expect(page.get_by_text("free images left of 10")).to_contain_text("8")
    shot(page, "generate-done")
    generation = Generation.objects.get(user=user)
    assert generation.status == Generation.Status.SUCCEEDED, live_worker.output()[-2000:]

    # Find it in the gallery (thumbnails only) and open it.
    page.get_by_role("link", name="History", exact=True).click()
    tiles = page.locator(".tile-link img")
    expect(tiles).to_have_count(2)
    assert all(
        "/thumbnail/" in (src or "")
        for src in tiles.evaluate_all("els => els.map(e => e.getAttribute('src'))")
    )
    expect(page.get_by_alt_text(PROMPT).first).to_be_visible()
    shot(page, "gallery")
    page.locator(".tile-link").first.click()  # the lightbox, then its details link
    expect(page.locator("#lightbox .lightbox-prompt")).to_have_text(PROMPT)
    page.locator("#lightbox").get_by_role("link", name="Details").click()
    expect(page.get_by_role("heading", name="Prompt")).to_be_visible()
    expect(page.locator("#prompt-text")).to_have_text(PROMPT)
    seed = str(generation.params["seed"])
    expect(page.locator(".specs").first).to_contain_text(seed)
    shot(page, "detail")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy prompt").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == PROMPT

    # Star it, then reuse its settings with the same seed.
    page.get_by_role("button", name="Star").click()
    expect(page.get_by_role("button", name="Starred")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("link", name="Same seed").click()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(PROMPT)
    expect(page.locator('input[name="seed"]')).to_have_value(seed)
    expect(page.locator('input[name="n"][value="2"]')).to_be_checked()

    # Filter (starred only) and search.
    page.get_by_role("link", name="History", exact=True).click()
    page.get_by_label("Starred").select_option("only")
    expect(page.locator(".tile-link")).to_have_count(1)
    page.get_by_label("Starred").select_option("")
    expect(page.locator(".tile-link")).to_have_count(2)
    page.get_by_placeholder("Search prompts…").fill("zebra")
    page.get_by_placeholder("Search prompts…").press("Enter")
    expect(page.get_by_text("Nothing matches these filters")).to_be_visible()
    page.get_by_placeholder("Search prompts…").fill("LIGHTHOUSE")
    page.get_by_placeholder("Search prompts…").press("Enter")
    expect(page.locator(".tile-link")).to_have_count(2)

    # Select both and download them as one zip.
    page.locator(".tile-check").nth(0).check(force=True)
    page.locator(".tile-check").nth(1).check(force=True)
    expect(page.locator("[data-selected-count]")).to_have_text("2")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download zip").click()
    archive = tmp_path / "images.zip"
    download_info.value.save_as(archive)
    names = zipfile.ZipFile(archive).namelist()
    assert len(names) == 2
    assert all(n.endswith(".png") for n in names)

    # Delete one (after confirming).
    page.get_by_role("button", name="Clear").click()
    page.locator(".tile-check").nth(0).check(force=True)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("1 image deleted.")).to_be_visible()
    expect(page.locator(".tile-link")).to_have_count(1)
    assert Image.objects.filter(generation=generation).count() == 1

    # Switch language.
    page.get_by_label("Language").select_option("zh-hans")
    expect(page.get_by_role("heading", name="历史记录")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    shot(page, "gallery-zh-hans")


def test_it_previews_reference_images_and_explains_errors_on_a_phone(
    browser_page: Any, live_server: Any, django_user_model: Any, enqueued: list[str]
) -> None:
    """Upload, drag and drop and URL previews; an error beside its field, in Chinese."""
    from playwright.sync_api import expect

    from tests.images import png_bytes

    base = live_server.url
    user = django_user_model.objects.create_user("lin", "lin@example.com", "pw-lin-5678")
    # A phone whose browser speaks Chinese: the portal follows it.
    phone = browser_page.context.browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", has_touch=True
    )
    page = phone.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill("pw-lin-5678")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="创建图片")).to_be_visible()

    # Several references for /multi: one chosen, one dropped, one by URL.
    page.get_by_label("模型", exact=True).select_option("black-forest-labs/flux-kontext-pro/multi")
    zone = page.locator('[data-image-field="images"]')
    zone.locator('input[type="file"]').set_input_files(
        [{"name": "a.png", "mimeType": "image/png", "buffer": png_bytes(40, 40, "red")}]
    )
    page.evaluate(
        """(b64) => {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], "b.png", {type: "image/png"}));
          const zone = document.querySelector('[data-image-field="images"] .dropzone');
          zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
        }""",
        __import__("base64").b64encode(png_bytes(40, 40, "blue")).decode(),
    )
    zone.locator("textarea").fill(f"{base}/static/img/favicon.svg")
    previews = zone.locator(".preview img")
    expect(previews).to_have_count(3)
    assert zone.locator('input[type="file"]').evaluate("el => el.files.length") == 2
    shot(page, "generate-phone-zh-hans")

    # A private address the browser cannot load: the preview says why, not a broken image.
    zone.locator("textarea").fill(f"{base}/static/img/favicon.svg\nhttp://127.0.0.1:1/a.png")
    refused = zone.locator('.preview[data-url="http://127.0.0.1:1/a.png"]')
    expect(refused).to_have_class(re.compile("is-broken"))
    expect(refused.locator(".preview-why")).to_have_text(
        "这是私有地址：Darkroom 只获取公网 URL。请改为上传文件。"  # noqa: RUF001
    )
    zone.locator("textarea").fill(f"{base}/static/img/favicon.svg")
    expect(previews).to_have_count(3)

    # A missing reference image: said beside the field, in the person's language.
    page.get_by_label("模型", exact=True).select_option("stepfun-ai/step1x-edit")
    expect(page.get_by_label("反向提示词")).to_be_visible()
    page.get_by_label("提示词", exact=True).fill("把天空变成夜晚")
    page.get_by_role("button", name="生成").click()
    expect(page.locator("#err-image")).to_contain_text("请添加一张图片")
    assert enqueued == []
