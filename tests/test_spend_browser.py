"""In real headless Chromium, in English and in Chinese: the generate page names the group
whose budget counts, a blocked prompt and a spent hard budget are refused where the person
typed them, with the API's message, spending nothing; "Your usage" shows the person's
spend and the staff's spend report the total paid. Screenshots land in
test-artifacts/spend-*-{en,zh}.png."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from accounts.quota import quota_set_limit, quota_status
from generations.models import Generation
from simulator.server import SimulatorServer
from tests.browser import Browser, shot
from tests.upstreams import create, run_to_end, sim_fixture  # noqa: F401

DEV = "black-forest-labs/flux.1-dev"
pytestmark = [pytest.mark.browser, pytest.mark.integration]

TEXT = {
    "en": {
        "policy": "refused by this instance's content policy",
        "budget": "This month's spending budget of the group designers is used up",
        "usage": "What the upstreams were paid for your requests: {total} USD.",
        "report": "paid to upstreams",
    },
    "zh": {
        "policy": "该提示词被本实例的内容策略拒绝",
        "budget": "用户组 designers 本月的支出预算已用完",
        "usage": "为你的请求向上游支付的费用：{total} USD。",  # noqa: RUF001
        "report": "向上游支付",
    },
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_refusals_and_spend_show_in_the_portal_in_both_languages(
    chromium: Browser,
    sim: SimulatorServer,
    enqueued: list,
    django_user_model: Any,
    admin_user: Any,
    lang: str,
) -> None:
    from playwright.sync_api import expect

    text = TEXT[lang]
    user = django_user_model.objects.create_user("dana", "dana@example.com", "pw-dana-4321")
    user.groups.add(Group.objects.create(name="designers"))
    quota_set_limit(user=user, model=DEV, limit=100)
    call_command("price", "set", "--channel", "modelverse", "--model", DEV, "--per-image", "0.02")
    call_command("budget", "set", "--group", "designers", "--monthly", "0.05", "--hard")
    call_command("policy", "block", "gore")
    # Two jobs at 0.02 each: 0.04 of 0.05 spent, so the next (0.02) does not fit.
    jobs = [run_to_end(create(user, DEV)) for _ in range(2)]
    assert [j.status for j in jobs] == [Generation.Status.SUCCEEDED] * 2
    total = sum((j.cost for j in jobs), Decimal(0))
    assert total == Decimal("0.04")
    calls = len(sim.requests("/v1/"))

    page = chromium.open(user, "desktop", lang, f"/?model={DEV}")
    expect(page.locator("#budget-group")).to_contain_text("designers")
    page.locator('textarea[name="prompt"]').fill("a field of g\u200bore")
    page.locator("#submit-row button[type=submit]").click()
    expect(page.get_by_text(text["policy"])).to_be_visible()
    shot(page, f"spend-policy-refused-{lang}")

    page.locator('textarea[name="prompt"]').fill("a quiet harbour")
    page.locator("#submit-row button[type=submit]").click()
    expect(page.get_by_text(text["budget"])).to_be_visible()
    shot(page, f"spend-budget-refused-{lang}")
    assert Generation.objects.count() == 2  # neither refusal left a job
    assert len(sim.requests("/v1/")) == calls  # nor reached the upstream
    assert quota_status(user=user, model=DEV).reserved == 0

    page.goto(f"{chromium.base}/accounts/usage/")
    expect(page.locator(".own-spend")).to_contain_text(text["usage"].format(total=total))
    shot(page, f"spend-your-usage-{lang}")

    report = chromium.open(admin_user, "desktop", lang, "/reports/spend/")
    expect(report.locator("#spend-total")).to_contain_text(f"{total} USD")
    expect(report.locator("#spend-total")).to_contain_text(text["report"])
    expect(report.locator("#spend-person")).to_contain_text("dana")
    shot(report, f"spend-report-{lang}")
    assert not chromium.errors
