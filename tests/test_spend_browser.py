"""In real headless Chromium, both languages: the generate page names the group whose
budget counts, and a blocked prompt or a spent hard budget is refused where the person
typed it, with the API's message, spending nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from accounts.quota import quota_status
from generations.models import Generation
from tests.browser import shot

DEV = "black-forest-labs/flux.1-dev"
pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_refusals_show_in_the_portal_in_both_languages(
    browser_page: Any, live_server: Any, django_user_model: Any
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    user = django_user_model.objects.create_user("dana", "dana@example.com", "pw-dana-4321")
    user.groups.add(Group.objects.create(name="designers"))
    call_command("policy", "block", "gore")
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("pw-dana-4321")
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{base}/?model={DEV}")
    page.get_by_label("Prompt", exact=True).fill("a field of g\u200bore")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("refused by this instance's content policy")).to_be_visible()

    call_command("budget", "set", "--group", "designers", "--monthly", "0", "--hard")
    page.set_extra_http_headers({"Accept-Language": "zh-Hans"})
    page.goto(f"{base}/?model={DEV}")
    expect(page.locator("#budget-group")).to_contain_text("designers")
    page.locator('textarea[name="prompt"]').fill("a quiet harbour")
    page.locator("#submit-row button[type=submit]").click()
    expect(page.get_by_text("用户组 designers 本月的支出预算已用完")).to_be_visible()
    shot(page, "spend-budget-refused-zh")

    assert not Generation.objects.exists()
    assert quota_status(user=user, model=DEV).reserved == 0
