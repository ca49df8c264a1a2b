"""Every portal page and every admin list and form, in real headless Chromium at 390 and
1440 px, in English and in zh-hans: nothing scrolls sideways, every navigation item is
reachable on a phone, and no English string known to leak shows on a Chinese page.

One browser and one live server for the module; each (width, language) is one browser
context that walks every page. Failures are gathered and reported together, with a
screenshot of each failing page under test-artifacts/every-*.png (DARKROOM_SHOTS=all
shoots every page, for a person to look through; DARKROOM_WALK_ONLY=/reports/ walks only
the pages whose path contains it, to re-check one page quickly).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts.api_keys import api_key_issue
from accounts.api_keys.services import api_keys_revoke
from accounts.audit import audit_person
from accounts.models import ApiKey, ErasureRequest, GroupPool, GroupQuota, Quota
from boards.services import board_create
from generations.models import Generation
from generations.services import generation_create, generation_succeed
from generations.spend.models import PolicyTerm
from presets.services import preset_create
from tests.browser import ARTIFACTS, shot
from tests.images import png_bytes
from tests.portal_helpers import alert_and_refusal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEV = "black-forest-labs/flux.1-dev"
MULTI = "black-forest-labs/flux-kontext-pro/multi"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}
LOCALES = {"en": "en-US", "zh": "zh-CN"}
SHOOT_ALL = os.environ.get("DARKROOM_SHOTS") == "all"
ONLY = os.environ.get("DARKROOM_WALK_ONLY", "")

# English seen on zh-hans pages before (issue 24), as whole words or phrases: any of them
# on a Chinese page is a leak.
LEAKS = [
    "Axes",
    "OTP_TOTP",
    "Audit log",
    "audit entry",
    "key created",
    "signed in",
    "two-factor on",
    "Has expired",
    "Prefix",
    "Allowed models",
    "Capped model",
    "Last used",
    "Your usage",
    "several references",
    "text to image",
    "Reference strength",
    "Revoke the selected keys",
    "You are authenticated as",
    "TOTP device",
    "Access attempts",
    "Access failures",
    # The API key library's help texts and its "key created" message (the add form, a live
    # key's form, a revoked key's read-only fields).
    "A free-form name",
    "Need not be unique",
    "clients cannot use it anymore",
    "This cannot be undone",
    "store it somewhere safe",
    # Fields declared without a verbose name, and django-otp's plain-English admin.
    "Api key",
    "Lease owner",
    "Budget reserved",
    "Sha256",
    "Credentials signer",
    "human-readable name of this device",
    "Throttling",
    "Timestamps",
    "username or email address",
    "No images in this range",
    "Period start",
    "Webhook status",
    "Mailed",
    "Currency",
]


# Table cells broken down to a letter or two per line (a model id in a narrow column, a
# Chinese header squeezed), and chart labels shrunk below legibility (an SVG scaled to a
# phone). Each returns the offending texts.
SQUEEZED_CELLS = """[...document.querySelectorAll('th, td')].filter(cell => {
  const text = cell.innerText.trim();
  if (text.length < 3 || cell.offsetParent === null) return false;
  const tops = new Set();
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top / 6));
  }
  return tops.size >= 3 && tops.size * 2 >= text.length;
}).map(cell => cell.innerText.trim())"""
TINY_CHART_LABELS = """[...document.querySelectorAll('svg text')].filter(t => {
  const box = t.getBoundingClientRect();
  return box.width > 0 && box.height < 9;
}).map(t => t.textContent)"""
FILTER_TITLES = (
    "[...document.querySelectorAll('#changelist-filter summary, #changelist-filter h3')]"
    ".map(e => e.innerText)"
)


@dataclass
class Walk:
    """One browser context walking pages; remembers what went wrong where."""

    page: Any
    base: str
    size: str
    lang: str
    problems: list[str] = field(default_factory=list)

    def visit(self, path: str) -> None:
        # The stylesheets block the deferred scripts, so DOMContentLoaded has the layout.
        response = self.page.goto(self.base + path, wait_until="domcontentloaded")
        where = f"{self.size}/{self.lang} {path}"
        found = []
        if response is None or response.status >= 400:
            found.append(f"status {response.status if response else None}")
        width = self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > width[1]:
            found.append(f"overflows: {width[0]} px wide in {width[1]} px")
        found += [f"squeezed cell {t!r}" for t in self.page.evaluate(SQUEEZED_CELLS)]
        found += [f"tiny chart label {t!r}" for t in self.page.evaluate(TINY_CHART_LABELS)]
        if self.lang == "zh":
            text = self.page.evaluate("document.body.innerText")
            found += [f"English {w!r}" for w in LEAKS if re.search(rf"\b{re.escape(w)}\b", text)]
            # An English plural glued to a Chinese name: a model without verbose_name_plural.
            found += [f"plural {w!r}" for w in re.findall(r"[\u4e00-\u9fff]s\b", text)]
            # A list filter titled by a field without a translated verbose name ("以 created").
            titles = self.page.evaluate(FILTER_TITLES)
            found += [f"filter {t!r}" for t in titles if re.search(r"[a-z]{3,}", t)]
        self.problems += [f"{where}: {p}" for p in found]
        if found or SHOOT_ALL:
            shot(self.page, f"every-{self.size}-{self.lang}-{_slug(path)}")


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:60] or "home"


def _contexts(chromium: Any, base: str, user: Any | None) -> Iterator[Walk]:
    """One context per (width, language): signed in as `user`, or signed out (None)."""
    cookies = []
    if user is not None:
        client = Client()
        client.force_login(user)
        cookies = [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    for size, viewport in SIZES.items():
        for lang, locale in LOCALES.items():
            context = chromium.new_context(viewport=viewport, locale=locale)
            context.add_cookies(cookies)
            context.set_default_timeout(20_000)
            try:
                yield Walk(context.new_page(), base, size, lang)
            finally:
                context.close()


def _world(django_user_model: Any) -> dict[str, Any]:
    """A staff member with a little of everything, so every list has rows to show."""
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-1")
    designers = Group.objects.create(name="designers")
    root.groups.add(designers)
    GroupQuota.objects.create(group=designers, model=MULTI, limit=40, period="monthly")
    GroupPool.objects.create(group=designers, model=DEV, size=100)
    Quota.objects.create(user=root, model=DEV, limit=500, used=3)
    key, _ = api_key_issue(user=root, name="laptop")
    ApiKey.objects.filter(pk=key.pk).update(image_cap=50, cap_model=DEV)
    old, _ = api_key_issue(user=root, name="old laptop")
    api_keys_revoke(keys=[old])
    done = generation_create(user=root, model=DEV, prompt="a lighthouse at dusk", params={})
    Generation.objects.filter(pk=done.pk).update(comparison=uuid.uuid4())
    done.refresh_from_db()
    generation_succeed(generation=done, images=[png_bytes()], channel="sim")
    audit_person(action="signed in", user=root, actor=root)
    image = done.images.get()
    board = board_create(owner=root, name="moodboard")
    # Rows for the lists whose change forms would otherwise go unwalked.
    other = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-12345")
    ErasureRequest.objects.create(user=other)
    alert_and_refusal(designers, other)
    PolicyTerm.objects.create(term="forbidden")
    preset_create(owner=root, name="product shot", model=DEV, template="a {product}")
    return {"root": root, "image": image, "generation": done, "revoked": old, "board": board}


def _portal_pages(world: dict[str, Any]) -> list[str]:
    return [
        "/",
        "/history/",
        f"/images/{world['image'].pk}/",
        "/accounts/api-keys/",
        "/accounts/usage/",
        "/accounts/data/",
        "/accounts/2fa/",
        "/accounts/password/",
        "/reports/usage/",
        "/reports/spend/",
        "/boards/",
        f"/boards/{world['board'].pk}/",
        "/compare/",
        f"/compare/{world['generation'].comparison}/",
        "/v1/docs",
    ]


# What a person sees before signing in (self-signup and invitations are off by default).
SIGNED_OUT_PAGES = ["/accounts/login/", "/accounts/password/reset/"]


def _admin_pages(world: dict[str, Any]) -> list[str]:
    """The index, then every registered model's list, add form and first object's form,
    and a revoked key's form (the library makes its fields read-only)."""
    pages = [
        reverse("admin:index"),
        reverse("admin:accounts_apikey_change", args=[world["revoked"].pk]),
    ]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        pages.append(reverse("admin:{}_{}_changelist".format(*info)))
        if model_admin.has_add_permission(_Staff()):
            pages.append(reverse("admin:{}_{}_add".format(*info)))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    return pages


class _Staff:
    """Enough of a request for has_add_permission: a superuser asks."""

    class user:
        is_active = is_staff = is_superuser = True

        @staticmethod
        def has_perm(perm: str, obj: object = None) -> bool:
            return True


def _nav_reachable(walk: Walk) -> None:
    """On a phone every item of the main navigation can be seen and tapped, through the
    menu if there is one; none sits off-screen in a sideways scroll."""
    page = walk.page
    page.goto(walk.base + "/")
    toggle = page.locator(".nav-toggle")
    if toggle.is_visible():
        toggle.click()
    links = page.locator("nav.nav a")
    width = page.evaluate("window.innerWidth")
    assert links.count() >= 5  # Generate, History, API keys, Reports, Admin
    for i in range(links.count()):
        link = links.nth(i)
        box = link.bounding_box()
        name = link.inner_text()
        if not link.is_visible() or box is None or box["x"] < 0 or box["x"] + box["width"] > width:
            walk.problems.append(f"{walk.size}/{walk.lang} nav: {name!r} is not reachable")
    if walk.problems:
        shot(page, f"every-{walk.size}-{walk.lang}-nav")
    admin_link = links.last
    admin_link.click()
    page.wait_for_url(re.compile(r"/admin/$"))


def _action_in_view(walk: Walk) -> None:
    """At 1440x900 the Generate button is on screen with the default model, no scrolling."""
    page = walk.page
    page.goto(walk.base + "/")
    button = page.locator("#submit-row button[type=submit]")
    box = button.bounding_box()
    if box is None or box["y"] + box["height"] > SIZES["desktop"]["height"]:
        walk.problems.append(f"{walk.size}/{walk.lang} /: the Generate button is below the fold")
        page.screenshot(path=str(ARTIFACTS / f"every-{walk.size}-{walk.lang}-fold.png"))


def test_every_page_fits_speaks_the_language_and_can_be_reached(
    module_chromium: Any, live_server: Any, django_user_model: Any, enqueued: list
) -> None:
    world = _world(django_user_model)
    pages = [p for p in _portal_pages(world) + _admin_pages(world) if ONLY in p]
    problems: list[str] = []
    for walk in _contexts(module_chromium, live_server.url, world["root"]):
        if walk.size == "phone":
            _nav_reachable(walk)
        else:
            _action_in_view(walk)
        for path in pages:
            walk.visit(path)
        problems += walk.problems
    for walk in _contexts(module_chromium, live_server.url, None):
        for path in [p for p in SIGNED_OUT_PAGES if ONLY in p]:
            walk.visit(path)
        problems += walk.problems
    assert problems == [], "\n".join(problems)
