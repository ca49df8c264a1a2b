"""The usage report: numbers against a known set of generations, the page, the CSV, access."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import Quota
from generations.models import Generation, Image
from generations.reports import queries as reports
from generations.reports.charts import stacked_bars
from tests.portal_helpers import backdated_generation

DEV = "black-forest-labs/flux.1-dev"  # free quota 10
KPRO = "black-forest-labs/flux-kontext-pro"  # free quota 5
pytestmark = pytest.mark.django_db

MARCH = reports.DateRange(date(2026, 3, 1), date(2026, 3, 3))
RANGE = {"start": "2026-03-01", "end": "2026-03-03"}
S, F, R = Generation.Status.SUCCEEDED, Generation.Status.FAILED, Generation.Status.RUNNING


@pytest.fixture
def known(user: Any, other_user: Any, admin_user: Any, django_user_model: Any) -> None:
    """alice, bob, carol (nothing), dave (deactivated), admin; 1-3 March 2026 (UTC)."""
    django_user_model.objects.create_user("carol")
    dave = django_user_model.objects.create_user("dave", is_active=False)
    backdated_generation(user, DEV, S, "2026-03-01T09:00Z", images=2)
    backdated_generation(user, DEV, F, "2026-03-02T09:00Z")
    backdated_generation(user, KPRO, S, "2026-03-02T10:00Z", images=1)
    backdated_generation(other_user, DEV, S, "2026-03-02T11:00Z", images=4, channel="backup")
    backdated_generation(other_user, KPRO, F, "2026-03-03T12:00Z", channel="")
    backdated_generation(other_user, DEV, R, "2026-03-03T13:00Z")  # not finished: no rate yet
    backdated_generation(other_user, DEV, S, "2026-02-28T23:59Z", images=1)  # before the range
    backdated_generation(other_user, DEV, F, "2026-03-04T00:00Z", images=1)  # after it
    Quota.objects.create(user=user, model=DEV, used=3)
    Quota.objects.create(user=user, model=KPRO, used=1)
    Quota.objects.create(user=other_user, model=DEV, used=4, reserved=1)
    Quota.objects.create(user=other_user, model=KPRO, unlimited=True)
    Quota.objects.create(user=dave, model=DEV, used=2)  # inactive: not counted


EXPECTED = {
    # by day, then model name ("flux-kontext-pro" sorts before "flux.1-dev")
    "daily": [
        ["day", "model", "images"],
        ["2026-03-01", DEV, "2"],
        ["2026-03-02", KPRO, "1"],
        ["2026-03-02", DEV, "4"],
    ],
    "people": [
        ["person", "generations", "images", "failed"],
        ["bob", "3", "4", "1"],
        ["alice", "3", "3", "1"],
    ],
    "models": [
        ["model", "finished", "failed", "failure_rate"],
        [KPRO, "2", "1", "0.5000"],
        [DEV, "3", "1", "0.3333"],
    ],
    "channels": [
        ["channel", "finished", "failed", "failure_rate"],
        ["(none)", "1", "1", "1.0000"],
        ["backup", "1", "0", "0.0000"],
        ["modelverse", "3", "1", "0.3333"],
    ],
}
# model, free quota, spent in range, used, held, left (alice 7 + bob 5 + carol 10 + admin 10),
# unlimited people
DEV_QUOTA = [DEV, "10", "6", "7", "1", "32", "0"]
KPRO_QUOTA = [KPRO, "5", "1", "1", "0", "14", "1"]  # alice 4 + carol 5 + admin 5; bob unlimited


def _csv(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_it_counts_a_known_set_of_generations(known: None) -> None:
    report = reports.usage_report(MARCH)
    for table, expected in EXPECTED.items():
        rows = [[str(v) for v in row] for row in reports.csv_rows(report, table)]
        assert rows == expected, table
    quota = {row.model: row for row in report.quota}
    assert [str(v) for v in vars(quota[DEV]).values()] == DEV_QUOTA
    assert [str(v) for v in vars(quota[KPRO]).values()] == KPRO_QUOTA
    assert report.total_images == 7
    assert report.series() == {DEV: [2, 4, 0], KPRO: [0, 1, 0]}


def test_days_follow_the_site_time_zone(user: Any, settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    # 17:30 UTC on 1 March is 01:30 on 2 March in Shanghai.
    backdated_generation(user, DEV, S, "2026-03-01T17:30Z", images=1)
    with timezone.override("Asia/Shanghai"):
        assert reports.images_per_day(MARCH) == [reports.DailyRow(date(2026, 3, 2), DEV, 1)]


def test_the_csv_export_has_the_same_rows_as_the_page(admin_client: Client, known: None) -> None:
    for table, expected in EXPECTED.items():
        response = admin_client.get(reverse("usage_csv", args=[table]), RANGE)
        assert response["Content-Type"].startswith("text/csv")
        assert "darkroom-" + table + "-2026-03-01-2026-03-03.csv" in response["Content-Disposition"]
        assert _csv(response) == expected
    quota = _csv(admin_client.get(reverse("usage_csv", args=["quota"]), RANGE))
    assert DEV_QUOTA in quota
    assert KPRO_QUOTA in quota
    assert admin_client.get(reverse("usage_csv", args=["nope"]), RANGE).status_code == 404


def test_the_csv_quotes_cells_a_spreadsheet_would_run(
    admin_client: Client, django_user_model: Any
) -> None:
    sneaky = django_user_model.objects.create_user("+cmd")
    backdated_generation(sneaky, DEV, S, "2026-03-02T09:00Z", images=1)
    rows = _csv(admin_client.get(reverse("usage_csv", args=["people"]), RANGE))
    assert rows[1][0] == "'+cmd"


def test_the_page_shows_the_numbers_and_the_chart(admin_client: Client, known: None) -> None:
    response = admin_client.get(reverse("usage_report"), RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "2026-03-01 to 2026-03-03: 7 images" in html
    assert "<td>bob</td><td>4</td><td>3</td><td>1</td>" in html
    assert f"<td>{DEV}</td><td>3</td><td>1</td><td>33%</td>" in html
    assert "<td>(none)</td><td>1</td><td>1</td><td>100%</td>" in html
    assert f"<td>{DEV}</td><td>10</td><td>6</td><td>7</td><td>1</td><td>32</td>" in html
    assert "<svg" in html
    assert f"2026-03-02 {DEV}: 4</title>" in html
    assert "<script" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'href="/reports/usage/people.csv?start=2026-03-01&amp;end=2026-03-03"' in html


def test_it_defaults_to_the_last_30_days_and_refuses_a_backwards_range(
    admin_client: Client,
) -> None:
    response = admin_client.get(reverse("usage_report"))
    report = response.context["report"]
    assert (report.range.end, (report.range.end - report.range.start).days) == (
        timezone.localdate(),
        29,
    )
    response = admin_client.get(
        reverse("usage_report"), {"start": "2026-03-05", "end": "2026-03-01"}
    )
    assert response.status_code == 400
    assert "The start is after the end." in response.content.decode()


def test_the_chart_escapes_what_it_draws() -> None:
    svg = stacked_bars([date(2026, 3, 1)], {"<script>x</script>": [3]}, title="<b>")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "&lt;b&gt;" in svg


def test_an_empty_chart_says_so_in_the_readers_language() -> None:
    with translation.override("zh-hans"):
        svg = stacked_bars([date(2026, 3, 1)], {}, title="t")
    assert "No images in this range" not in svg
    assert "此期间没有图片" in svg


@pytest.mark.parametrize("name", ["usage_report", "usage_csv"])
def test_people_who_arent_staff_never_reach_the_report(
    client: Client, user: Any, known: None, name: str
) -> None:
    url = reverse(name, args=["people"] if name == "usage_csv" else [])
    anonymous = client.get(url, RANGE)
    client.force_login(user)
    logged_in = client.get(url, RANGE)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    # Signed in but not staff: the portal's 403 page, not the admin's sign-in form.
    assert logged_in.status_code == 403


def test_spent_counts_images_charged_even_after_they_are_deleted(
    admin_client: Client, known: None, user: Any
) -> None:
    from generations.portal.services import images_delete

    before = {row.model: row.spent for row in reports.usage_report(MARCH).quota}
    ids = list(Image.objects.filter(generation__user=user).values_list("pk", flat=True))
    assert images_delete(user=user, image_ids=ids) == 3
    after = {row.model: row.spent for row in reports.usage_report(MARCH).quota}
    assert after == before
    assert after[DEV] == 6
    assert after[KPRO] == 1
    html = admin_client.get(reverse("usage_report"), RANGE).content.decode()
    assert f"<td>{DEV}</td><td>10</td><td>6</td>" in html


def test_a_finished_generation_records_the_images_it_charged(user: Any) -> None:
    from generations.services import generation_fail, generation_succeed
    from tests.images import png_bytes

    Quota.objects.create(user=user, model=DEV, reserved=5)
    done = Generation.objects.create(user=user, model=DEV, n=3, quota_reserved=3)
    failed = Generation.objects.create(user=user, model=DEV, n=2, quota_reserved=2)
    generation_succeed(generation=done, images=[png_bytes(), png_bytes()], channel="test")
    generation_fail(generation_id=failed.pk, code="timeout", message="slow")
    done.refresh_from_db()
    failed.refresh_from_db()
    assert (done.quota_state, done.quota_used) == (Generation.QuotaState.COMMITTED, 2)
    assert (failed.quota_state, failed.quota_used) == (Generation.QuotaState.RELEASED, 0)
    assert Quota.objects.get(user=user, model=DEV).used == 2
