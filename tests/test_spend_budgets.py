"""Money budgets: alerts once each at 50/80/100 %, a hard budget refusing before any
quota or upstream call, and exactly k jobs through under 50 concurrent requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.mail.backends import locmem
from django.core.management import call_command
from django.db import connection
from django.utils import timezone, translation
from openai import OpenAI

from accounts.models import AuditEntry
from accounts.quota import budget as algebra
from accounts.quota import quota_set_limit, quota_status
from common.errors import BudgetExhausted
from generations.models import Budget, BudgetAlert, Generation
from generations.services import generation_create
from generations.spend import budgets
from generations.spend.alerts import alert_signing_secret, alerts_retry
from generations.tasks import retry_budget_alerts
from simulator.server import SimulatorServer
from tests.upstreams import create, run_to_end, sim_fixture  # noqa: F401

DEV = "black-forest-labs/flux.1-dev"


class _Receiver(BaseHTTPRequestHandler):
    """Takes alerts (answers 200), or refuses them with a 500 while `failing`."""

    got: list[tuple[bytes, dict[str, str]]] = []
    failing = False
    refused: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if type(self).failing:
            type(self).refused.append(body)
            self.send_response(500)
        else:
            type(self).got.append((body, dict(self.headers.items())))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(settings: Any) -> Iterator[list[tuple[bytes, dict[str, str]]]]:
    _Receiver.got, _Receiver.refused, _Receiver.failing = [], [], False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.DARKROOM_ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    yield _Receiver.got
    server.shutdown()
    server.server_close()


@pytest.fixture
def priced(db: Any) -> None:
    call_command("price", "set", "--channel", "modelverse", "--model", DEV, "--per-image", "0.02")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(
        "fin", "finance@example.com", "pw-fin-123", is_staff=True
    )


@pytest.mark.django_db(transaction=True)
def test_alerts_fire_once_each_at_50_80_and_100_percent(
    sim: SimulatorServer, user: Any, staff: Any, enqueued: list, priced: None, receiver: list
) -> None:
    quota_set_limit(user=user, model=DEV, limit=100)
    call_command("budget", "set", "--instance", "--monthly", "0.10", "--alert-to", "fin")

    def run(jobs: int) -> None:
        for _ in range(jobs):
            assert run_to_end(create(user, DEV)).status == Generation.Status.SUCCEEDED

    run(2)  # 0.04: 40 %
    assert not mail.outbox
    assert not receiver
    with translation.override("zh-hans"):  # crossed by someone using the portal in Chinese:
        run(1)  # 0.06: 60 %
    # the staff's mail is still in the instance's language
    assert [m.subject for m in mail.outbox] == ["Darkroom budget: the instance at 50 %"]
    run(2)  # 0.10: 80 % and 100 % with the same request's settlement on the fifth
    run(3)  # soft budget: goes on, 0.16, no alert repeats
    assert [a.threshold for a in BudgetAlert.objects.order_by("threshold")] == [50, 80, 100]
    assert len(mail.outbox) == 3
    assert mail.outbox[0].to == ["finance@example.com"]
    assert len(receiver) == 3
    client = OpenAI(api_key="unused")
    for body, headers in receiver:
        client.webhooks.verify_signature(body, headers, secret=alert_signing_secret())
    notices = [json.loads(body)["data"] for body, _ in receiver]
    assert [(n["budget"], n["threshold"], n["limit"], n["currency"]) for n in notices] == [
        ("instance", 50, "0.100000", "USD"),
        ("instance", 80, "0.100000", "USD"),
        ("instance", 100, "0.100000", "USD"),
    ]
    assert Decimal(notices[0]["spent"]) == Decimal("0.06")
    assert Budget.objects.get().spent == Decimal("0.16")


class FlakyMail(locmem.EmailBackend):
    """Django's test outbox, or a mail server that refuses while `down`."""

    down = False

    def send_messages(self, messages: Any) -> int:
        if type(self).down:
            raise ConnectionRefusedError("the mail server is down")
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_an_alert_whose_mail_or_webhook_failed_is_sent_later_exactly_once(
    sim: SimulatorServer, user: Any, staff: Any, enqueued: list, priced: None, receiver: list,
    settings: Any,
) -> None:  # fmt: skip
    settings.EMAIL_BACKEND = "tests.test_spend_budgets.FlakyMail"
    quota_set_limit(user=user, model=DEV, limit=100)
    call_command("budget", "set", "--instance", "--monthly", "0.10", "--alert-to", "fin")
    FlakyMail.down, _Receiver.failing = True, True

    for _ in range(3):  # 0.06: 60 %, while the mail server and the receiver are down
        run_to_end(create(user, DEV))

    assert not mail.outbox
    assert not receiver
    assert len(_Receiver.refused) == 1  # tried at once, answered 500
    assert retry_budget_alerts() == 0  # not due yet: it waits before trying again
    FlakyMail.down = False  # the mail server is back; the receiver still answers 500
    later = timezone.now() + timedelta(minutes=2)
    assert alerts_retry(now=later) == 0
    assert [m.subject for m in mail.outbox] == ["Darkroom budget: the instance at 50 %"]
    assert len(_Receiver.refused) == 2
    _Receiver.failing = False  # the receiver is back

    assert alerts_retry(now=later + timedelta(minutes=5)) == 1
    assert alerts_retry(now=later + timedelta(hours=2)) == 0  # sent: never again
    assert len(mail.outbox) == 1  # the mail that went is not sent again with the webhook
    assert len(receiver) == 1
    body, headers = receiver[0]
    OpenAI(api_key="unused").webhooks.verify_signature(body, headers, secret=alert_signing_secret())
    assert json.loads(body)["data"]["threshold"] == 50
    assert json.loads(body) == json.loads(_Receiver.refused[0])  # the same notice, re-sent
    alert = BudgetAlert.objects.get()
    assert (alert.mailed, alert.webhook_delivered, alert.next_try_at) == (True, True, None)

    for _ in range(2):  # 0.10: 80 % and 100 %, sent at once now that both are up
        run_to_end(create(user, DEV))
    assert alerts_retry(now=later + timedelta(hours=3)) == 0
    assert [json.loads(b)["data"]["threshold"] for b, _ in receiver] == [50, 80, 100]
    assert len(mail.outbox) == 3
    beat = settings.CELERY_BEAT_SCHEDULE["retry-budget-alerts"]
    assert beat["task"] == "generations.tasks.retry_budget_alerts"


@pytest.mark.django_db(transaction=True)
def test_the_admin_shows_a_banner_for_a_crossed_budget(
    sim: SimulatorServer, user: Any, enqueued: list, priced: None, client: Any,
    admin_user: Any,
) -> None:  # fmt: skip
    quota_set_limit(user=user, model=DEV, limit=100)
    call_command("budget", "set", "--instance", "--monthly", "0.02")
    run_to_end(create(user, DEV))
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    assert "Money budget of the instance: 100 % reached" in page
    listed = client.get("/admin/generations/budgetalert/")
    assert listed.status_code == 200
    assert "webhook delivered" in listed.content.decode().lower()


@pytest.mark.django_db
def test_a_hard_group_budget_refuses_before_any_quota_or_upstream_call(
    sim: SimulatorServer, user: Any, enqueued: list, priced: None
) -> None:
    group = Group.objects.create(name="designers")
    user.groups.add(group)
    call_command("budget", "set", "--group", "designers", "--monthly", "0.03", "--hard")
    first = run_to_end(create(user, DEV))  # 0.02 of 0.03: the next (0.02) does not fit
    calls = len(sim.requests("/v1/"))

    with pytest.raises(BudgetExhausted) as refused:
        create(user, DEV)

    assert first.budgets == [Budget.objects.get().pk]
    assert refused.value.status == 429
    assert refused.value.type == "insufficient_quota"
    assert refused.value.envelope()["error"]["code"] == "budget_exhausted"
    assert "designers" in refused.value.message
    assert len(sim.requests("/v1/")) == calls
    assert user.generations.count() == 1
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved) == (1, 0)
    budget = Budget.objects.get()
    assert (budget.spent, budget.reserved) == (Decimal("0.02"), Decimal(0))
    entry = AuditEntry.objects.get(action="budget set")
    assert (entry.old_value, entry.new_value) == ("none", "0.03 hard USD")


@pytest.mark.django_db
def test_a_budget_set_in_the_admin_is_audited_with_from_and_to(admin_client: Any) -> None:
    response = admin_client.post(
        "/admin/generations/budget/add/", {"group": "", "monthly": "12.5", "hard": "on"}
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    budget = Budget.objects.get()
    assert (budget.is_instance, budget.monthly, budget.hard) == (True, Decimal("12.5"), True)
    entry = AuditEntry.objects.get(action="budget set")
    assert (entry.old_value, entry.new_value, entry.actor_name) == (
        "none",
        "12.5 hard USD",
        "admin",
    )


def test_a_money_budget_is_held_by_the_quota_algebra(
    user: Any, enqueued: list, priced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hard money budget is held by the algebra's one conditional UPDATE, as the image
    budgets are (reserve, settle and roll serve every budget): no copy of it in spend."""
    group = Group.objects.create(name="designers")
    user.groups.add(group)
    call_command("budget", "set", "--group", "designers", "--monthly", "0.03", "--hard")
    held: list[type] = []
    reserve = algebra.reserve

    def recorded(budget: algebra.Budget, rows: Any, **kwargs: Any) -> bool:
        held.append(budget.model)
        return reserve(budget, rows, **kwargs)

    monkeypatch.setattr(algebra, "reserve", recorded)

    generation_create(user=user, model=DEV, prompt="a kite", params={})
    with pytest.raises(BudgetExhausted):  # 0.02 held of 0.03: the next 0.02 does not fit
        generation_create(user=user, model=DEV, prompt="a kite", params={})

    assert held.count(Budget) == 2
    assert Budget.objects.values_list("spent", "reserved").get() == (Decimal(0), Decimal("0.02"))


class Gate:
    """Holds arrivals until `parties` are there, or until no one else has come for
    `stall` seconds (a connection of the pool may be taken by something else in this
    process), then lets them go together; later arrivals pass straight through."""

    def __init__(self, parties: int, stall: float = 5.0) -> None:
        self.parties, self.stall, self.arrived, self.together = parties, stall, 0, 0
        self.ready = threading.Condition()
        self.opened = False

    def wait(self) -> None:
        with self.ready:
            self.arrived += 1
            self.ready.notify_all()
            while not self.opened:
                seen = self.arrived
                self.ready.wait_for(
                    lambda: self.opened or self.arrived >= self.parties, timeout=self.stall
                )
                if not self.opened and (self.arrived >= self.parties or self.arrived == seen):
                    self.opened, self.together = True, self.arrived
                    self.ready.notify_all()


@pytest.mark.django_db(transaction=True)
def test_50_concurrent_requests_get_exactly_k_through_a_hard_budget(
    postgres: None, django_user_model: Any, enqueued: list, priced: None, monkeypatch: Any
) -> None:
    """A group budget with room for exactly 7 images; 50 members ask at once. As many as
    the process has database connections (its pool: 20) are held right before the
    reservation statement, each inside its request's open transaction with its job row
    written, and released together; the rest follow as connections free up. A
    reservation that reads the budget and then writes lets them all through on one
    reading (seen: 25 granted); the conditional UPDATE lets exactly 7."""
    group = Group.objects.create(name="designers")
    people = [
        django_user_model.objects.create_user(f"p{i}", f"p{i}@example.com", "pw-123-abc")
        for i in range(50)
    ]
    group.user_set.add(*people)
    call_command("budget", "set", "--group", "designers", "--monthly", "0.14", "--hard")
    pool = connection.settings_dict["OPTIONS"].get("pool") or {}
    gate = Gate(min(50, pool.get("max_size", 50)))
    reserve = budgets._hold

    def all_at_once(budget: Budget, amount: Decimal) -> bool:
        gate.wait()
        return reserve(budget, amount)

    monkeypatch.setattr(budgets, "_hold", all_at_once)
    connection.close()  # this thread's connection back to the pool: all of it is theirs

    def attempt(i: int) -> bool:
        try:
            generation_create(user=people[i], model=DEV, prompt=f"cat {i}", params={})
            return True
        except BudgetExhausted:
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as threads:
        granted = sum(threads.map(attempt, range(50)))

    assert gate.arrived == 50  # every request reached the reservation
    assert gate.together > 7  # more at once than the budget has room for: a race would show
    assert granted == 7
    assert Generation.objects.count() == 7
    assert Budget.objects.get().reserved == Decimal("0.14")
