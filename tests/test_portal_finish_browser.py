"""The last mile, in real headless Chromium, at 1440 px and at phone width, in English
and Chinese: the admin, the API keys page, the generate page, the gallery, the error
pages and the API docs. Screenshots land in test-artifacts/finish-*.png.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.base import ContentFile

from accounts.models import Quota
from generations.models import Generation, Image
from tests.browser import LOCALES, SIZES, Browser, shot
from tests.images import png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEV = "black-forest-labs/flux.1-dev"
KPRO = "black-forest-labs/flux-kontext-pro"
KMAX_MULTI = "black-forest-labs/flux-kontext-max/multi"
EVERY_VIEW = [(size, lang) for size in SIZES for lang in LOCALES]


def _fits_the_width(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _t(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


# --- admin -------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "lang"), EVERY_VIEW)
def test_the_admin_reads_like_darkroom(
    chromium: Browser, django_user_model: Any, size: str, lang: str
) -> None:
    from playwright.sync_api import expect

    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-1")
    for i in range(6):
        django_user_model.objects.create_user(
            f"person{i}", f"person{i}@example.com", first_name="Ada", last_name=f"Lovelace {i}"
        )
    Quota.objects.create(user=root, model=DEV, used=9)

    # Staff reach the admin and the report from the portal's navigation.
    page = chromium.open(root, size, lang, "/")
    if size == "phone":  # on a phone the navigation is behind the menu button
        page.locator(".nav-toggle").click()
    nav = page.get_by_role("navigation", name=_t(lang, "Main", "主导航"))
    expect(nav.get_by_role("link", name=_t(lang, "Reports", "报告"))).to_be_visible()
    nav.get_by_role("link", name=_t(lang, "Admin", "管理后台")).click()

    expect(page.locator("#site-name")).to_have_text("Darkroom")
    assert "Django" not in page.locator("#header").inner_text()
    assert re.findall(r"[\u4e00-\u9fff]s\b", page.locator("#content").inner_text()) == []
    assert _fits_the_width(page)
    shot(page, f"finish-admin-index-{size}-{lang}")

    # People: every column on screen at 1440 px; the page itself never scrolls sideways.
    page.goto(chromium.base + "/admin/accounts/user/")
    assert _fits_the_width(page)
    if size == "desktop":
        last = page.locator("#result_list thead th").last.bounding_box()
        assert last["x"] + last["width"] <= SIZES[size]["width"]
    shot(page, f"finish-admin-users-{size}-{lang}")

    # Channels: served models are a count with a link, so rows stay one line high.
    page.goto(chromium.base + "/admin/providers/channel/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() >= 5
    heights = [rows.nth(i).bounding_box()["height"] for i in range(rows.count())]
    assert max(heights) < (140 if size == "phone" else 80), heights
    assert _fits_the_width(page)
    served = page.locator("#result_list td.field-served a").first
    expect(served).to_have_text(re.compile(_t(lang, r"^\d+ models?$", r"^\d+ 个模型$")))
    shot(page, f"finish-admin-channels-{size}-{lang}")

    # Quotas: who is near their limit, in one click.
    page.goto(chromium.base + "/admin/accounts/quota/")
    page.get_by_role("link", name=_t(lang, "Near the limit", "接近上限")).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    shot(page, f"finish-admin-quotas-{size}-{lang}")

    # Adding a person: name, email, groups, access; no permission pickers.
    page.goto(chromium.base + "/admin/accounts/user/add/")
    for field in ("username", "first_name", "last_name", "email", "is_active", "is_staff"):
        expect(page.locator(f'[name="{field}"]')).to_have_count(1)
    expect(page.locator('[name="user_permissions"]')).to_have_count(0)
    assert _fits_the_width(page)
    shot(page, f"finish-admin-person-{size}-{lang}")

    # A person's page: their quotas (effective, and their own limits to raise).
    page.goto(chromium.base + f"/admin/accounts/user/{root.pk}/change/")
    expect(page.locator(".quota-table tbody tr").first).to_be_visible()
    expect(page.locator('[name="quotas-0-limit"]')).to_have_count(1)
    assert _fits_the_width(page)
    shot(page, f"finish-admin-person-change-{size}-{lang}")
    page.locator('input[name="_continue"]').click()  # saving unchanged adds no quota row
    expect(page.locator(".messagelist .success")).to_have_count(1)
    assert Quota.objects.filter(user=root).count() == 1
    assert chromium.errors == []


# --- API keys ------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "lang"), EVERY_VIEW)
def test_the_api_keys_page_creates_a_key_for_chosen_models(
    chromium: Browser, user: Any, size: str, lang: str
) -> None:
    from playwright.sync_api import expect

    page = chromium.open(user, size, lang, "/accounts/api-keys/")
    page.get_by_label(_t(lang, "Name", "名称"), exact=True).fill("laptop")
    expiry = page.locator('input[name="expires_on"]')
    assert expiry.get_attribute("type") == "date"
    expiry.fill("2031-01-31")
    page.get_by_text(_t(lang, "Choose models", "选择模型")).click()
    search = page.get_by_placeholder(_t(lang, "Search models…", "搜索模型…"))
    search.fill("kontext max")
    options = page.locator("[data-allow-option]:visible")
    expect(options).to_have_count(3)
    options.first.locator("input").check()
    chips = page.locator("[data-allow-selected] .chip")
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text("FLUX.1 Kontext [max]")
    shot(page, f"finish-api-keys-form-{size}-{lang}")
    page.get_by_role("button", name=_t(lang, "Create key", "创建密钥")).click()

    expect(page.locator("#new-key")).to_have_value(re.compile(r"^\w{8}\.\w+$"))
    row = page.locator(".keys-table tbody tr").first
    expect(row).to_contain_text("laptop")
    expect(row.locator(".tag")).to_contain_text("FLUX.1 Kontext [max]")
    expect(row).to_contain_text("2031")
    assert _fits_the_width(page)
    shot(page, f"finish-api-keys-{size}-{lang}")
    assert chromium.errors == []


# --- generate ------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "lang"), EVERY_VIEW)
def test_the_generate_page_says_what_is_left_and_why_it_is_blocked(
    chromium: Browser, user: Any, size: str, lang: str, enqueued: list[str]
) -> None:
    from playwright.sync_api import expect

    Quota.objects.create(user=user, model=KPRO, limit=0)
    page = chromium.open(user, size, lang, f"/?model={DEV}")
    picker = page.locator("select#id_model")
    empty = picker.locator(f'option[value="{KPRO}"]')
    assert empty.get_attribute("data-empty") is not None
    assert empty.inner_text().startswith("⊘")
    assert re.search(
        _t(lang, r"10 free images left", r"剩余 10 张免费图片"),
        picker.locator(f'option[value="{DEV}"]').inner_text(),
    )

    # A field's error shows after submitting, and goes as soon as the field changes.
    page.get_by_role("button", name=_t(lang, "Generate", "生成"), exact=True).click()
    prompt_error = page.locator("#err-prompt .field-error")
    expect(prompt_error).to_have_count(1)
    expect(page.locator(".field-prompt")).to_have_class(re.compile("has-error"))
    page.get_by_label(_t(lang, "Prompt", "提示词"), exact=True).fill("a red kite")
    expect(prompt_error).to_have_count(0)
    assert enqueued == []

    # Pasting an image adds it to the reference drop zone.
    page.evaluate(
        """(b64) => {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], "pasted.png", {type: "image/png"}));
          document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true}));
        }""",
        __import__("base64").b64encode(png_bytes(48, 27, "purple")).decode(),
    )
    expect(page.locator('[data-image-field="image"] .preview img')).to_have_count(1)
    assert (
        page.locator('[data-image-field="image"] input[type="file"]').evaluate(
            "el => el.files.length"
        )
        == 1
    )
    shot(page, f"finish-generate-{size}-{lang}")

    # No free images left: the button is disabled, says why, and shows no spinner.
    picker.select_option(KPRO)
    button = page.locator("#submit-row button[type=submit]")
    expect(button).to_be_disabled()
    expect(button).to_contain_text(_t(lang, "No free images left", "免费图片已用完"))
    expect(button.locator(".spinner")).to_have_count(0)
    button.scroll_into_view_if_needed()
    shot(page, f"finish-generate-blocked-{size}-{lang}")
    assert chromium.errors == []  # htmx:oobErrorNoTarget and friends would show here


# --- gallery -------------------------------------------------------------------------


def _generation(user: Any, prompt: str, size: tuple[int, int] | None, model: str = DEV) -> Any:
    status = Generation.Status.SUCCEEDED if size else Generation.Status.RUNNING
    generation = Generation.objects.create(user=user, model=model, prompt=prompt, status=status)
    if size:
        _image(generation, *size)
    return generation


def _image(generation: Any, width: int, height: int) -> Image:
    image = Image(
        generation=generation, width=width, height=height, format="PNG", bytes=1, sha256="0" * 64
    )
    image.file.save("i.png", ContentFile(png_bytes(width, height, "orange")), save=False)
    thumb = png_bytes(width // 2, height // 2, "orange", "WEBP")
    image.thumbnail.save("t.webp", ContentFile(thumb), save=False)
    image.save()
    return image


@pytest.mark.parametrize(("size", "lang"), EVERY_VIEW)
def test_the_gallery_keeps_shapes_shows_prompts_and_polls_once(
    chromium: Browser, user: Any, size: str, lang: str
) -> None:
    from playwright.sync_api import expect

    long_prompt = "a harbour at dawn, fishing boats, long exposure, soft mist over the water"
    _generation(user, long_prompt, (320, 180), model=KMAX_MULTI)
    _generation(user, "a tall lighthouse", (180, 320))
    _generation(user, "a square stamp", (200, 200))
    running = [_generation(user, f"still cooking {i}", None) for i in range(3)]
    requests: list[str] = []

    page = chromium.open(user, size, lang, "/history/")
    page.on("request", lambda r: requests.append(r.url))
    tiles = page.locator(".tile:not(.tile-status)")
    expect(tiles).to_have_count(3)
    for i, ratio in enumerate([1.0, 180 / 320, 320 / 180]):  # newest first
        box = tiles.nth(i).bounding_box()
        assert abs(box["width"] / box["height"] - ratio) < 0.04, (i, box)

    # The prompt and the whole model label on hover or keyboard focus.
    wide = tiles.nth(2)
    if size == "desktop":
        wide.hover()
    else:
        wide.locator(".tile-link").focus()
    expect(wide.locator(".tile-prompt")).to_be_visible()
    expect(wide.locator(".tile-prompt")).to_have_text(long_prompt)
    label = _t(
        lang, "FLUX.1 Kontext [max], several references", "FLUX.1 Kontext [max]\uff0c多张参考图"
    )
    expect(wide.locator(".tile-model")).to_have_text(label)
    shot(page, f"finish-gallery-{size}-{lang}")

    # A lightbox: arrows step through, Esc closes.
    tiles.nth(0).locator(".tile-link").click()
    box = page.locator("#lightbox")
    expect(box).to_be_visible()
    expect(box.locator(".lightbox-count")).to_have_text("1 / 3")
    page.keyboard.press("ArrowRight")
    expect(box.locator(".lightbox-count")).to_have_text("2 / 3")
    expect(box.locator(".lightbox-prompt")).to_have_text("a tall lighthouse")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(box.locator(".lightbox-count")).to_have_text("3 / 3")
    expect(box.locator(".lightbox-img")).to_have_js_property("complete", True)
    shot(page, f"finish-lightbox-{size}-{lang}")
    page.keyboard.press("Escape")
    expect(box).to_be_hidden()

    # Running tiles: one request for all three, then the finished one turns into its image.
    page.wait_for_timeout(4500)
    polls = [u for u in requests if "/history/tiles/" in u]
    assert polls
    assert all(u.count("id=") == 3 for u in polls)
    assert not [u for u in requests if "/jobs/" in u]
    Generation.objects.filter(pk=running[0].pk).update(status=Generation.Status.SUCCEEDED)
    _image(running[0], 160, 90)
    expect(page.locator(f"#gen-{running[0].pk} .tile-link img")).to_have_count(1, timeout=10_000)
    expect(page.locator("[data-pending]")).to_have_count(2)
    assert chromium.errors == []


# --- error pages and the API docs ----------------------------------------------------------


@pytest.mark.parametrize(("size", "lang"), EVERY_VIEW)
def test_closed_and_unknown_pages_show_the_portal_404(
    chromium: Browser, user: Any, settings: Any, size: str, lang: str
) -> None:
    from playwright.sync_api import expect

    settings.DEBUG = True  # as in the demo
    settings.DARKROOM_SIGNUP = "closed"
    page = chromium.open(None, size, lang, "/accounts/signup/")
    heading = page.get_by_role("heading", name=_t(lang, "This page does not exist", "页面不存在"))
    expect(heading).to_be_visible()
    shot(page, f"finish-404-{size}-{lang}")
    page = chromium.open(user, size, lang, "/no/such/page/")
    expect(heading.page.locator(".error-code")).to_have_text("404")
    expect(page.get_by_role("link", name=_t(lang, "Go to Generate", "去生成"))).to_be_visible()
    assert _fits_the_width(page)


@pytest.mark.parametrize(("size", "lang"), EVERY_VIEW)
def test_the_api_docs_list_each_models_rules(
    chromium: Browser, user: Any, size: str, lang: str
) -> None:
    from playwright.sync_api import expect

    page = chromium.open(user, size, lang, "/v1/docs")
    card = page.locator(".model-doc", has=page.get_by_text(KPRO + "/text-to-image", exact=True))
    expect(card).to_contain_text("21:9, 16:9, 4:3")
    expect(card).to_contain_text(_t(lang, "5 free images", "5 张免费图片"))
    expect(card.locator("h3")).to_have_text(
        _t(lang, "FLUX.1 Kontext [pro], text to image", "FLUX.1 Kontext [pro]\uff0c文生图")
    )
    dev = page.locator(".model-doc", has=page.get_by_text(DEV, exact=True))
    expect(dev).to_contain_text(_t(lang, "each side 256 to 1536 px", "每边 256 到 1536 像素"))
    expect(dev.locator("td code", has_text="1024x1024")).to_have_count(1)
    # Every name and default on one line: a size never breaks as "1024x102 / 4".
    broken = page.evaluate(
        "[...document.querySelectorAll('.model-doc td code')]"
        ".filter(c => c.getClientRects().length > 1).map(c => c.textContent)"
    )
    assert broken == []
    assert _fits_the_width(page)
    shot(page, f"finish-api-docs-{size}-{lang}")
