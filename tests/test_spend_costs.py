"""Cost in money: every upstream attempt at the price in force then, refused attempts
apart, and reports (staff, "Your usage", /v1/organization/costs) that add up exactly."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import AuditEntry
from generations.models import Budget, Generation
from generations.reports.spend import spend_lines
from generations.spend import organization as org
from generations.spend.costs import entry_cost
from providers.catalog import CatalogError, parse_catalog
from providers.models import Price
from providers.pricing import dearest_cost
from simulator.server import SimulatorServer
from tests.upstreams import create, run_to_end, sim_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
DEV = "black-forest-labs/flux.1-dev"


@pytest.fixture
def priced(db: Any) -> None:
    # modelverse: per image + per megapixel; the reseller: per image only; others free.
    call_command(
        "price", "set", "--channel", "modelverse", "--model", DEV,
        "--per-image", "0.03", "--per-megapixel", "0.01",
    )  # fmt: skip
    call_command(
        "price", "set", "--channel", "reseller-dalle", "--model", DEV, "--per-image", "0.02"
    )


def paid(generation: Generation) -> list[tuple[str, Decimal]]:
    return [(a["channel"], entry_cost(a)) for a in generation.attempts if entry_cost(a) > 0]


def window() -> tuple[Any, Any]:
    now = timezone.now()
    return now - timedelta(hours=1), now + timedelta(hours=1)


MV2 = Decimal("0.065243")  # two images in one call: 0.06524288, rounded once
# One 512x512 image at modelverse: 0.03 + 0.01 x 0.262144 MP, kept to six places.
MV = Decimal("0.032621")


def test_a_timeout_is_paid_a_refusal_is_not_and_a_fail_over_pays_the_next_channel(
    sim: SimulatorServer, user: Any, enqueued: list, priced: None, settings: Any
) -> None:
    settings.DARKROOM_UPSTREAM_TIMEOUT = 1.0
    sim.add_fault("hang", times=1, seconds=3)  # the call went out; its outcome is unknown
    timed_out = run_to_end(create(user, DEV, n=2, size="512x512"))
    sim.add_fault("server_error", times=1)  # an error answer: the upstream refused it
    refused = run_to_end(create(user, DEV, n=2, size="512x512"))

    assert timed_out.status == refused.status == Generation.Status.SUCCEEDED
    assert paid(timed_out) == [("modelverse", MV2), ("reseller-dalle", Decimal("0.04"))]
    assert timed_out.cost == MV2 + Decimal("0.04")
    assert timed_out.cost_undelivered == MV2  # paid, but it delivered nothing
    assert paid(refused) == [("reseller-dalle", Decimal("0.04"))]
    assert refused.cost == Decimal("0.04")
    assert refused.cost_undelivered == 0

    lines = spend_lines(*window())
    assert lines.total == timed_out.cost + refused.cost  # exactly: Decimal throughout
    assert lines.undelivered == MV2
    assert lines.refused == 1
    assert dict(lines.by("channel")) == {
        "modelverse": MV2,
        "reseller-dalle": Decimal("0.08"),
    }
    assert dict(lines.by("person")) == {"alice": lines.total}


def test_a_timeout_on_a_channel_without_a_price_is_not_counted_as_refused(
    sim: SimulatorServer, user: Any, enqueued: list, settings: Any
) -> None:
    """No price: the call costs nothing, but it went out and its outcome is unknown;
    "refused" counts only the calls an upstream answered with an error."""
    settings.DARKROOM_UPSTREAM_TIMEOUT = 1.0
    sim.add_fault("hang", times=1, seconds=3)
    timed_out = run_to_end(create(user, DEV, size="512x512"))
    assert timed_out.status == Generation.Status.SUCCEEDED
    assert [a["code"] for a in timed_out.attempts if not a["ok"]] == ["upstream_timeout"]
    assert spend_lines(*window()).refused == 0

    sim.add_fault("server_error", times=1)
    assert run_to_end(create(user, DEV, size="512x512")).status == Generation.Status.SUCCEEDED
    assert spend_lines(*window()).refused == 1


def test_a_retried_job_pays_each_call_and_a_new_price_only_counts_from_then_on(
    sim: SimulatorServer, user: Any, enqueued: list, priced: None, settings: Any
) -> None:
    settings.DARKROOM_UPSTREAM_TIMEOUT = 1.0
    settings.DARKROOM_MAX_UPSTREAM_ATTEMPTS = 6
    # Every channel times out on the first round: the job is retried later, and pays
    # for each call that went out (the free channels cost nothing).
    sim.add_fault("hang", times=4, seconds=3)
    retried = run_to_end(create(user, DEV, size="512x512"))
    assert retried.status == Generation.Status.SUCCEEDED
    assert retried.retries == 1
    assert paid(retried) == [
        ("modelverse", MV),
        ("reseller-dalle", Decimal("0.02")),
        ("modelverse", MV),
    ]

    call_command("price", "set", "--channel", "modelverse", "--model", DEV, "--per-image", "1")
    after = run_to_end(create(user, DEV, size="512x512"))

    assert paid(after) == [("modelverse", Decimal("1"))]
    retried.refresh_from_db()
    assert retried.cost == 2 * MV + Decimal("0.02")  # the old price stays in its attempts
    assert spend_lines(*window()).total == retried.cost + after.cost


def test_a_price_per_megapixel_counts_the_size_the_upstream_delivered(
    sim: SimulatorServer, user: Any, enqueued: list, priced: None
) -> None:
    """Asked for 512x512, the upstream delivers 1024x768: the call is paid at what it
    delivered, at the price of the call, even if the price changes before it settles."""
    sim.add_fault("resize", times=1, width=1024, height=768)
    job = run_to_end(create(user, DEV, n=2, size="512x512"))

    assert job.status == Generation.Status.SUCCEEDED
    assert [(i.width, i.height) for i in job.images.order_by("index")] == [(1024, 768)] * 2
    # 2 x 0.03 + 0.01 x 2 x 0.786432 MP = 0.07572864, rounded once (asked: 0.065243)
    delivered = Decimal("0.075729")
    assert paid(job) == [("modelverse", delivered)]
    assert job.cost == delivered
    assert job.cost_undelivered == 0
    lines = spend_lines(*window())
    assert lines.total == delivered
    start = int(timezone.now().timestamp()) - 86400
    day = start - start % 86400
    page = org.costs_page(org.Query(day, day + 3 * 86400, ("line_item",), 7))
    assert sum(r["amount"]["value"] for b in page["data"] for r in b["results"]) == delivered


def test_a_wide_aspect_ratio_job_holds_no_less_than_it_is_paid(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    """A 21:9 image is delivered at 1568x672 (1.05 MP, over 1024x1024's 1.05): the budget
    hold, which is the most a job could cost, must cover it."""
    t2i = "black-forest-labs/flux-kontext-pro/text-to-image"
    for channel in ("modelverse", "reseller-edits"):
        call_command(
            "price", "set", "--channel", channel, "--model", t2i,
            "--per-image", "0.01", "--per-megapixel", "1",
        )  # fmt: skip
    job = run_to_end(create(user, t2i, n=1, aspect_ratio="21:9"))

    assert job.status == Generation.Status.SUCCEEDED
    assert [(i.width, i.height) for i in job.images.all()] == [(1568, 672)]
    assert job.cost == Decimal("1.063696")  # 0.01 + 1 x 1.053696 MP
    assert dearest_cost(model=t2i, n=1, params=job.params) >= job.cost


def test_the_delivered_size_is_paid_at_the_price_of_the_call(user: Any, priced: None) -> None:
    from generations.spend.costs import attempt_cost, settle_delivered

    job = Generation(user=user, model=DEV, prompt="x", params={"size": "512x512"}, n=1)
    entry = {"channel": "modelverse", "phase": "submit", "ok": True}
    entry.update(attempt_cost(job, "modelverse", None, phase="submit"))
    assert entry_cost(entry) == MV
    call_command("price", "set", "--channel", "modelverse", "--model", DEV, "--per-image", "9")
    job.attempts = [entry]

    settled = settle_delivered(job, channel="modelverse", sizes=[(1536, 1024)])

    # 0.03 + 0.01 x 1.572864 MP at the old price: the new one counts from then on
    assert entry_cost(settled[0]) == Decimal("0.045729")
    assert settled[0]["delivered"] == ["1536x1024"]
    assert entry_cost(entry) == MV  # the job's own list is left as it was


def test_the_costs_endpoint_buckets_equal_the_report(
    sim: SimulatorServer, user: Any, enqueued: list, priced: None
) -> None:
    jobs = [run_to_end(create(user, DEV, size="512x512")) for _ in range(3)]
    start = int(timezone.now().timestamp()) - 86400
    query = org.Query(start - start % 86400, start - start % 86400 + 3 * 86400, ("line_item",), 7)
    page = org.costs_page(query)

    amounts = [r["amount"]["value"] for b in page["data"] for r in b["results"]]
    assert sum(amounts) == sum(j.cost for j in jobs) == spend_lines(*window()).total
    assert {r["line_item"] for b in page["data"] for r in b["results"]} == {DEV}
    assert page["object"] == "page"
    assert page["has_more"] is False


def test_the_price_command_sets_shows_and_audits(priced: None, capsys: Any) -> None:
    call_command("price", "show")
    out = capsys.readouterr().out
    assert "modelverse" in out
    assert "0.030000" in out
    assert "0.010000" in out
    entry = AuditEntry.objects.filter(action="price set").order_by("pk").first()
    assert entry is not None
    assert entry.old_value == "none"
    assert "0.03/image" in entry.new_value
    price = Price.objects.get(channel__name="modelverse", model=DEV)
    assert price.per_image == Decimal("0.03")
    assert price.per_megapixel == Decimal("0.01")


def test_the_price_command_refuses_bad_amounts(db: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="amount >= 0"):
        call_command("price", "set", "--channel", "modelverse", "--model", DEV, "--per-image", "-1")
    with pytest.raises(CommandError, match="amount >= 0"):
        call_command("price", "set", "--channel", "modelverse", "--model", DEV, "--per-image", "x")
    assert not Price.objects.exists()


def test_the_catalog_takes_prices_and_refuses_bad_ones() -> None:
    from providers.catalog import load_catalog

    raw = load_catalog()  # a valid catalog to start from
    assert raw.get(DEV) is not None
    import tomllib

    from providers.catalog import CATALOG_PATH

    data = tomllib.loads(CATALOG_PATH.read_text())
    model = next(m for m in data["models"] if m["name"] == DEV)
    model["channels"][0]["price_per_image"] = "0.025"
    spec = parse_catalog(data).get(DEV)
    assert spec is not None
    assert spec.channels[0].price_per_image == Decimal("0.025")
    model["channels"][0]["price_per_image"] = -1
    with pytest.raises(CatalogError, match="price_per_image"):
        parse_catalog(data)


def test_the_staff_spend_report_and_its_csv_equal_the_attempts(
    sim: SimulatorServer, user: Any, enqueued: list, priced: None, admin_client: Any,
    settings: Any,
) -> None:  # fmt: skip
    settings.DARKROOM_UPSTREAM_TIMEOUT = 1.0
    sim.add_fault("hang", times=1, seconds=3)
    first = run_to_end(create(user, DEV, n=2, size="512x512"))
    second = run_to_end(create(user, DEV, size="512x512"))
    total = first.cost + second.cost

    page = admin_client.get("/reports/spend/")
    text = page.content.decode()
    assert page.status_code == 200
    assert f"{total} USD paid to upstreams" in text
    assert "<svg" in text
    assert f"{MV2} USD paid for attempts that delivered no image" in text
    csv_text = admin_client.get("/reports/spend/attempts.csv").content.decode()
    rows = [r.split(",") for r in csv_text.strip().splitlines()[1:]]
    assert sum(Decimal(r[7]) for r in rows) == total
    assert [r[8] for r in rows] == ["no", "yes", "yes"]
    people = admin_client.get("/reports/spend/person.csv").content.decode().splitlines()
    day = timezone.localdate().isoformat()
    assert people == ["day,person,amount", f"{day},alice,{total}"]  # per day, as the chart
    daily = admin_client.get("/reports/spend/daily.csv").content.decode().splitlines()
    assert daily == ["day,model,amount", f"{day},{DEV},{total}"]  # the chart's default, by model
    by_person = admin_client.get("/reports/spend/", {"by": "person"}).content.decode()
    assert "Spend per day, per person" in by_person
    assert 'href="/reports/spend/person.csv?by=person"' in by_person
    assert "alice" in by_person.split('id="spend-daily-title"')[1].split("</section>")[0]


def test_a_person_sees_their_own_spend_on_your_usage(
    sim: SimulatorServer, user: Any, enqueued: list, priced: None, client: Any
) -> None:
    job = run_to_end(create(user, DEV, size="512x512"))
    client.force_login(user)
    text = client.get("/accounts/usage/").content.decode()
    assert f"What the upstreams were paid for your requests: {job.cost} USD." in text


@pytest.mark.parametrize(
    ("phase", "code", "billed"),
    [
        ("submit", None, True),  # a result or a job id
        ("submit", "upstream_timeout", True),  # sent, outcome unknown
        ("resume", "interrupted_after_send", True),  # the worker died mid-call
        ("submit", "upstream_unavailable", False),  # refused connection / error answer
        ("submit", "content_policy_violation", False),
        ("submit", "channel_cannot_serve", False),  # never sent
        ("poll", "upstream_timeout", False),  # a poll is not a generating call
        ("download", "result_expired", False),
    ],
)
def test_which_attempts_cost_money(phase: str, code: str | None, billed: bool) -> None:
    from generations.spend.costs import is_billed
    from providers.base import ProviderError

    error = None if code is None else ProviderError("x", code=code, retryable=False)
    assert is_billed(phase=phase, error=error, code=code or "") is billed


def test_a_price_set_in_the_admin_is_audited_with_from_and_to(admin_client: Any) -> None:
    from providers.models import Channel

    channel = Channel.objects.get(name="modelverse")
    response = admin_client.post(
        "/admin/providers/price/add/",
        {"channel": channel.pk, "model": DEV, "per_image": "0.05", "per_megapixel": "0"},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    price = Price.objects.get()
    assert (price.per_image, price.channel) == (Decimal("0.05"), channel)
    entry = AuditEntry.objects.get(action="price set")
    assert (entry.old_value, entry.actor_name) == ("none", "admin")
    assert entry.new_value.startswith("0.05/image")


@pytest.mark.parametrize(
    ("url", "form"),
    [
        ("/admin/providers/price/add/", {"model": DEV, "per_image": "-1", "per_megapixel": "0"}),
        ("/admin/providers/price/add/", {"model": DEV, "per_image": "0", "per_megapixel": "-1"}),
        ("/admin/generations/budget/add/", {"group": "", "monthly": "-5"}),
    ],
)
def test_the_admin_refuses_a_negative_price_or_budget_with_a_form_error(
    admin_client: Any, url: str, form: dict[str, str]
) -> None:
    from providers.models import Channel

    form = {**form, "channel": str(Channel.objects.get(name="modelverse").pk)}
    response = admin_client.post(url, form)

    assert response.status_code == 200  # the form again, not a server error
    assert "Ensure this value is greater than or equal to 0." in response.content.decode()
    assert not Price.objects.exists()
    assert not Budget.objects.exists()
    assert not AuditEntry.objects.filter(action__in=["price set", "budget set"]).exists()
