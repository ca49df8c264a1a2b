"""Quota layers (catalog <- group <- person, unlimited), periods and their reset, own usage."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.template import Context, Template
from django.utils import timezone

from accounts.models import Period, Quota
from accounts.quota import quota_reserve, quota_settle, quota_status, usage_for_user
from accounts.quota.changes import (
    group_quota_update,
    model_period_set,
    quota_grant,
    quota_reset_periods,
    quota_set_unlimited,
    quota_update,
)
from accounts.quota.layers import layered_for, period_start
from accounts.tasks import reset_quota_periods
from common.errors import QuotaExceeded
from providers.catalog import get_catalog
from tests.audit_helpers import quota_audit

DEV = "black-forest-labs/flux.1-dev"  # catalog free quota 10
KPRO = "black-forest-labs/flux-kontext-pro"  # catalog free quota 5
KMAX = "black-forest-labs/flux-kontext-max/text-to-image"  # catalog free quota 0
pytestmark = pytest.mark.django_db


def _group(name: str, *members: Any) -> Group:
    group = Group.objects.create(name=name)
    group.user_set.add(*members)
    return group


def _spend(user: Any, model: str, n: int) -> None:
    quota_reserve(user=user, model=model, n=n)
    quota_settle(user=user, model=model, reserved=n, used=n)


def test_it_starts_from_the_catalogs_free_quota(user: Any) -> None:
    layered = layered_for(user=user, model=DEV, quota=None)
    assert (layered.limit, layered.source) == (10, "catalog")
    assert (layered.period, layered.period_source) == (Period.NEVER, "default")


def test_a_group_limit_overrides_the_catalog(user: Any) -> None:
    design = _group("design", user)
    group_quota_update(actor=None, group=design, model=KMAX, limit=3)
    assert layered_for(user=user, model=KMAX, quota=None).source == "group design"
    _spend(user, KMAX, 3)
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user, model=KMAX, n=1)


def test_a_person_limit_overrides_their_group(user: Any) -> None:
    design = _group("design", user)
    group_quota_update(actor=None, group=design, model=DEV, limit=50)
    quota_update(actor=None, user=user, model=DEV, limit=2)
    status = quota_status(user=user, model=DEV)
    assert status.limit == 2
    quota_update(actor=None, user=user, model=DEV, limit=None)  # back to inherit
    assert quota_status(user=user, model=DEV).limit == 50


def test_several_groups_give_the_most_generous_limit(user: Any) -> None:
    group_quota_update(actor=None, group=_group("a", user), model=DEV, limit=20)
    group_quota_update(actor=None, group=_group("b", user), model=DEV, limit=40)
    group_quota_update(actor=None, group=_group("c", user), model=DEV, limit=4)
    layered = layered_for(user=user, model=DEV, quota=None)
    assert (layered.limit, layered.source) == (40, "group b")


def test_a_group_that_doesnt_cover_the_person_changes_nothing(user: Any, other_user: Any) -> None:
    group_quota_update(actor=None, group=_group("others", other_user), model=DEV, limit=99)
    assert quota_status(user=user, model=DEV).limit == 10
    assert quota_status(user=other_user, model=DEV).limit == 99


def test_group_unlimited_beats_every_group_limit(user: Any) -> None:
    group_quota_update(actor=None, group=_group("a", user), model=KMAX, limit=5)
    group_quota_update(actor=None, group=_group("vip", user), model=KMAX, unlimited=True)
    layered = layered_for(user=user, model=KMAX, quota=None)
    assert (layered.limit, layered.source) == (None, "group vip")
    _spend(user, KMAX, 4)
    _spend(user, KMAX, 4)
    assert quota_status(user=user, model=KMAX).left is None


def test_person_unlimited_beats_their_own_limit_and_clearing_it_restores_it(user: Any) -> None:
    quota_update(actor=None, user=user, model=KMAX, limit=1)
    quota_set_unlimited(actor=None, user=user, model=KMAX)
    _spend(user, KMAX, 4)
    assert quota_status(user=user, model=KMAX).limit is None
    quota_set_unlimited(actor=None, user=user, model=KMAX, unlimited=False)
    with pytest.raises(QuotaExceeded):
        quota_reserve(user=user, model=KMAX, n=1)


def test_a_grant_adds_to_the_limit_in_effect_whatever_its_layer(user: Any) -> None:
    group_quota_update(actor=None, group=_group("design", user), model=DEV, limit=30)
    assert quota_grant(actor=None, user=user, model=DEV, n=5)
    layered = layered_for(user=user, model=DEV, quota=Quota.objects.get(user=user, model=DEV))
    assert (layered.limit, layered.source) == (35, "person")
    audit = quota_audit().get(action="grant")
    assert (audit.old_value, audit.new_value) == ("30 (group design)", "35")


def test_a_grant_to_an_unlimited_person_changes_nothing(user: Any) -> None:
    quota_set_unlimited(actor=None, user=user, model=DEV)
    assert not quota_grant(actor=None, user=user, model=DEV, n=5)
    assert not quota_audit().filter(action__startswith="grant").exists()


def test_the_period_comes_from_the_group_then_the_model(user: Any) -> None:
    model_period_set(actor=None, model=DEV, period=Period.MONTHLY)
    layered = layered_for(user=user, model=DEV, quota=None)
    assert (layered.period, layered.period_source) == (Period.MONTHLY, "model")
    group_quota_update(actor=None, group=_group("a", user), model=DEV, period=Period.WEEKLY)
    group_quota_update(actor=None, group=_group("b", user), model=DEV, period=Period.DAILY)
    layered = layered_for(user=user, model=DEV, quota=None)
    assert (layered.period, layered.period_source) == (Period.DAILY, "group b")


def test_period_starts_are_midnight_monday_and_the_first_in_the_site_time_zone(
    settings: Any,
) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    tz = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 3, 19, 1, 30, tzinfo=tz)  # a Thursday, 01:30 local (17:30 UTC before)
    with timezone.override(tz):
        assert period_start(Period.DAILY, now) == datetime(2026, 3, 19, tzinfo=tz)
        assert period_start(Period.WEEKLY, now) == datetime(2026, 3, 16, tzinfo=tz)
        assert period_start(Period.MONTHLY, now) == datetime(2026, 3, 1, tzinfo=tz)
        assert period_start(Period.NEVER, now) is None


def _age(user: Any, model: str, days: int) -> None:
    """Pretend the person's usage was counted from `days` days ago."""
    Quota.objects.filter(user=user, model=model).update(
        used_since=timezone.now() - timedelta(days=days)
    )


def test_the_periodic_reset_run_twice_resets_once(user: Any, other_user: Any) -> None:
    model_period_set(actor=None, model=DEV, period=Period.DAILY)
    _spend(user, DEV, 7)
    _spend(other_user, DEV, 2)
    _age(user, DEV, 1)
    _age(other_user, DEV, 1)
    quota_reserve(user=user, model=DEV, n=1)  # a job in flight keeps its hold

    assert quota_reset_periods() == 2
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved, status.left) == (0, 1, 9)

    _spend(user, DEV, 2)  # today's images: a second run must leave them counted
    assert quota_reset_periods() == 0
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved, status.left) == (2, 1, 7)
    assert quota_status(user=other_user, model=DEV).used == 0
    audits = quota_audit().filter(action="period reset")
    assert sorted((a.subject, a.old_value, a.new_value) for a in audits) == [
        ("alice", "7", "0"),
        ("bob", "2", "0"),
    ]
    assert all(a.actor is None for a in audits)


def test_it_resets_again_when_the_next_period_starts(user: Any) -> None:
    model_period_set(actor=None, model=DEV, period=Period.DAILY)
    _spend(user, DEV, 3)
    _age(user, DEV, 1)
    quota_reset_periods()
    _spend(user, DEV, 4)
    assert quota_reset_periods() == 0  # same day: the 4 belong to today
    assert quota_reset_periods(now=timezone.now() + timedelta(days=1)) == 1
    assert quota_status(user=user, model=DEV).used == 0


def test_it_never_resets_usage_of_the_current_period_or_a_model_without_period(
    user: Any,
) -> None:
    model_period_set(actor=None, model=DEV, period=Period.MONTHLY)
    _spend(user, DEV, 3)  # counted from now: this month
    _spend(user, KPRO, 2)
    _age(user, KPRO, 400)  # no period for KPRO: however old, never reset
    assert quota_reset_periods() == 0
    assert quota_status(user=user, model=DEV).used == 3
    assert quota_status(user=user, model=KPRO).used == 2


def test_the_beat_task_runs_the_reset(user: Any) -> None:
    group = _group("daily", user)
    group_quota_update(actor=None, group=group, model=DEV, period=Period.DAILY)
    _spend(user, DEV, 5)
    _age(user, DEV, 2)
    assert reset_quota_periods.apply().get() == 1
    assert reset_quota_periods.apply().get() == 0
    assert quota_status(user=user, model=DEV).used == 0


def test_the_beat_schedule_names_the_task(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["reset-quota-periods"]
    assert entry["task"] == reset_quota_periods.name


def test_usage_for_user_shows_own_models_this_period_and_writes_nothing(
    user: Any, other_user: Any
) -> None:
    model_period_set(actor=None, model=DEV, period=Period.WEEKLY)
    _spend(user, DEV, 3)
    _spend(other_user, KPRO, 5)
    rows = {row.model: row for row in usage_for_user(user)}
    assert (rows[DEV].used, rows[DEV].left, rows[DEV].layered.period) == (3, 7, Period.WEEKLY)
    week = period_start(Period.WEEKLY)
    assert week is not None
    assert rows[DEV].resets_at == week + timedelta(days=7)
    assert rows[KPRO].used == 0
    assert rows[KPRO].left == 5
    assert KMAX not in rows  # free quota 0 and never used: not shown
    assert not Quota.objects.filter(user=user, model=KPRO).exists()


def test_the_usage_include_renders_the_persons_rows(user: Any) -> None:
    _spend(user, DEV, 4)
    html = Template("{% load darkroom_usage %}{% usage_table user %}").render(
        Context({"user": user})
    )
    label = get_catalog().models[DEV].label
    row = html.split(f">{label}</td>", 1)[1].split("</tr>", 1)[0]
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]
    assert cells[:4] == ["4", "0", "6", "10"]  # used, in progress, left, limit
    assert cells[4] == "everyone's free images"  # where the limit comes from
