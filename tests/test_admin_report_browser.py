"""The staff usage report in real headless Chromium: sign in, pick a range, read, export.

Leaves test-artifacts/usage-report.png behind for a person to look at.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from accounts.models import Quota
from generations.models import Generation, Image
from tests.browser import shot
from tests.portal_helpers import backdated_generation

MODELS = [
    "black-forest-labs/flux.1-dev",
    "black-forest-labs/flux-kontext-pro",
    "stepfun-ai/step1x-edit",
]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser_page: Any) -> Any:
    return browser_page


def _history(django_user_model: Any) -> None:
    """Two weeks of a small team's generations, with a few failures."""
    people = [django_user_model.objects.create_user(name) for name in ("ana", "ben", "chen")]
    for day in range(1, 15):
        for i, person in enumerate(people):
            model = MODELS[(day + i) % len(MODELS)]
            failed = (day * (i + 1)) % 7 == 0
            images = 0 if failed else 1 + (day + 2 * i) % 3 + i
            at = f"2026-03-{day:02d}T{9 + i}:00Z"
            status = Generation.Status.FAILED if failed else Generation.Status.SUCCEEDED
            backdated_generation(person, model, status, at, images=images)
    Quota.objects.create(user=people[0], model=MODELS[0], used=4)


def test_staff_read_the_usage_report_and_export_it(
    page: Any, live_server: Any, django_user_model: Any
) -> None:
    from playwright.sync_api import expect

    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-9876")
    _history(django_user_model)
    total = Image.objects.count()

    page.goto(f"{live_server.url}/reports/usage/")
    # Staff only: sign in first, on the portal's form (the admin's sign-in sends there).
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw-root-9876")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Usage report")).to_be_visible()

    page.get_by_label("From", exact=True).fill("2026-03-01")
    page.get_by_label("To", exact=True).fill("2026-03-14")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text(f"2026-03-01 to 2026-03-14: {total} images")).to_be_visible()
    chart = page.locator("svg.chart")
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() > 14  # bars, stacked by model, plus the legend
    assert chart.bounding_box()["height"] > 200
    expect(page.get_by_role("heading", name="Top people")).to_be_visible()
    expect(page.locator("table").nth(0).locator("tbody tr")).to_have_count(3)

    shot(page, "usage-report")

    with page.expect_download() as info:
        page.get_by_role("region", name="Top people").get_by_role("link", name="CSV").click()
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text())))
    assert rows[0] == ["person", "generations", "images", "failed"]
    assert sum(int(row[2]) for row in rows[1:]) == total
    assert {row[0] for row in rows[1:]} == {"ana", "ben", "chen"}


def test_an_admin_grants_images_from_the_people_list(
    page: Any, live_server: Any, django_user_model: Any
) -> None:
    from playwright.sync_api import expect

    from accounts.quota import quota_status

    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-9876")
    ana = django_user_model.objects.create_user("ana")
    django_user_model.objects.create_user("ben")

    page.goto(f"{live_server.url}/admin/accounts/user/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw-root-9876")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("row", name=re.compile(r"\bana\b")).get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option(label="Grant N more images of the model")
    # The action bar's own inputs (Django wraps each in its label, beside the menu).
    actions = page.locator("div.actions")
    actions.locator("select[name=model]").select_option(MODELS[0])
    actions.locator("input[name=n]").fill("5")
    actions.locator("input[name=reason]").fill("launch week")
    actions.get_by_role("button", name="Go").click()
    expect(page.get_by_text(f"Granted 5 images of {MODELS[0]}: 1 of 1 changed.")).to_be_visible()
    assert quota_status(user=ana, model=MODELS[0]).limit == 15

    page.goto(f"{live_server.url}/admin/accounts/quota/?q=ana")
    row = page.get_by_role("row", name=MODELS[0])
    expect(row.get_by_role("cell", name="15", exact=True).first).to_be_visible()
    expect(row.get_by_role("cell", name="person", exact=True)).to_be_visible()
    shot(page, "admin-quotas")
    page.goto(f"{live_server.url}/admin/accounts/auditentry/")
    expect(page.get_by_role("cell", name="launch week")).to_be_visible()
    shot(page, "admin-quota-audit")
