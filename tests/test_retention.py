"""Retention: old generations lose their files; starred images and accounting stay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, GroupPolicy
from accounts.quota import quota_status
from boards.models import Board, BoardImage
from generations.models import Generation
from generations.retention import removal_date
from generations.tasks import purge_expired_generations
from tests.portal_helpers import FLUX_DEV, make_generation

pytestmark = pytest.mark.django_db


def _aged(generation: Generation, days: int) -> Generation:
    Generation.objects.filter(pk=generation.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )
    generation.refresh_from_db()
    return generation


def _files(generation: Generation) -> list[str]:
    names = [str(n) for i in generation.images.all() for n in (i.file, i.thumbnail)]
    return names + [str(r.file) for r in generation.references.all()]


@pytest.fixture
def purge(django_capture_on_commit_callbacks: Any) -> Callable[..., str]:
    """Run the command; files go once the rows' transaction commits (tests run in one)."""

    def run(*args: str) -> str:
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("purge_expired", *args, stdout=out)
        return out.getvalue()

    return run


def test_it_keeps_everything_by_default(user: Any, purge: Any) -> None:
    old = _aged(make_generation(user, images=2, reference=True), 4000)
    assert "Removed 0 images" in purge()
    assert old.images.count() == 2
    assert old.references.count() == 1


def test_it_removes_expired_files_and_keeps_starred_images_and_rows(
    user: Any, settings: Any, purge: Any
) -> None:
    settings.DARKROOM_RETENTION_DAYS = 30
    expired = _aged(make_generation(user, images=2, reference=True), 40)
    starred = _aged(make_generation(user, images=2, reference=True), 40)
    starred.images.filter(index=0).update(starred=True)
    recent = _aged(make_generation(user, images=1, reference=True), 10)
    expired_files, recent_files = _files(expired), _files(recent)
    used_before = quota_status(user=user, model=FLUX_DEV).used

    out = purge()

    assert "alice: removed 3 images, 1 reference images" in out
    assert all(not default_storage.exists(name) for name in expired_files)
    assert all(default_storage.exists(name) for name in recent_files)
    expired.refresh_from_db()
    assert expired.purged_at is not None
    assert expired.status == Generation.Status.SUCCEEDED
    assert (expired.images.count(), expired.references.count()) == (0, 0)
    assert list(starred.images.values_list("starred", flat=True)) == [True]
    assert starred.references.count() == 1  # the starred image still shows what it came from
    assert recent.images.count() == 1
    assert Generation.objects.filter(user=user).count() == 3
    assert quota_status(user=user, model=FLUX_DEV).used == used_before
    entry = AuditEntry.objects.get(action="retention purge")
    assert (entry.actor_name, entry.user, entry.detail["images"]) == ("", user, 3)
    assert "Removed 0 images" in purge()  # a second run finds nothing


def test_a_dry_run_says_what_would_go_and_removes_nothing(
    user: Any, settings: Any, purge: Any
) -> None:
    settings.DARKROOM_RETENTION_DAYS = 30
    old = _aged(make_generation(user, images=2), 40)
    files = _files(old)
    out = purge("--dry-run")
    assert "Would remove 2 images" in out
    assert old.images.count() == 2
    assert all(default_storage.exists(n) for n in files)
    assert not AuditEntry.objects.filter(action="retention purge").exists()


def test_a_group_can_keep_longer_or_shorter(
    user: Any, other_user: Any, settings: Any, purge: Any
) -> None:
    settings.DARKROOM_RETENTION_DAYS = 30
    archive = Group.objects.create(name="archive")
    GroupPolicy.objects.create(group=archive, retention_days=0)  # forever
    user.groups.add(archive)
    kept = _aged(make_generation(user, images=1), 400)
    gone = _aged(make_generation(other_user, images=1), 40)
    purge()
    assert kept.images.count() == 1
    assert gone.images.count() == 0

    settings.DARKROOM_RETENTION_DAYS = 0
    quick = Group.objects.create(name="quick")
    GroupPolicy.objects.create(group=quick, retention_days=5)
    other_user.groups.add(quick)
    short = _aged(make_generation(other_user, images=1), 6)
    purge()
    assert short.images.count() == 0


def test_beat_runs_it_daily(user: Any, settings: Any) -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["purge-expired-generations"]
    assert entry["task"] == "generations.tasks.purge_expired_generations"
    assert entry["schedule"] == 24 * 3600
    settings.DARKROOM_RETENTION_DAYS = 1
    old = _aged(make_generation(user, images=2), 2)
    assert purge_expired_generations() == 2
    assert old.images.count() == 0


def test_the_portal_says_how_long_images_are_kept(user: Any, settings: Any) -> None:
    settings.DARKROOM_RETENTION_DAYS = 30
    generation = make_generation(user, images=2)
    plain, starred = generation.images.order_by("index")
    starred.starred = True
    starred.save()
    client = Client()
    client.force_login(user)

    assert "Images are removed 30 days after they were made" in _text(client, "my_data")
    page = client.get(reverse("image_detail", args=[plain.pk])).content.decode()
    removal = (generation.created_at + timedelta(days=30)).strftime("%Y")
    assert "Will be removed after" in page
    assert removal in page
    page = client.get(reverse("image_detail", args=[starred.pk])).content.decode()
    assert "Kept: starred images are not removed." in page

    settings.DARKROOM_RETENTION_DAYS = 0
    assert "Images are kept until you delete them." in _text(client, "my_data")


def _text(client: Client, name: str) -> str:
    return client.get(reverse(name)).content.decode()


def test_reports_count_the_same_images_after_a_purge(user: Any, settings: Any, purge: Any) -> None:
    from generations.reports.queries import DateRange, csv_rows, usage_report

    settings.DARKROOM_RETENTION_DAYS = 30
    when = timezone.now() - timedelta(days=40)
    for images in (2, 3):
        generation = make_generation(user, images=images)
        Generation.objects.filter(pk=generation.pk).update(created_at=when, finished_at=when)
        generation.images.update(created_at=when)
    days = DateRange(start=(when - timedelta(days=1)).date(), end=timezone.now().date())

    before = {t: csv_rows(usage_report(days), t) for t in ("daily", "people")}
    purge()
    after = {t: csv_rows(usage_report(days), t) for t in ("daily", "people")}

    assert not Generation.objects.filter(images__isnull=False).exists()
    assert after == before
    assert before["people"][1][2] == 5


def test_it_keeps_an_image_on_a_shared_board_like_a_starred_one(
    user: Any, settings: Any, purge: Any
) -> None:
    settings.DARKROOM_RETENTION_DAYS = 30
    old = _aged(make_generation(user, images=3), 40)
    shared_image, private_image, loose = old.images.all()
    shared = Board.objects.create(owner=user, name="team", shared_everyone=True)
    private = Board.objects.create(owner=user, name="mine")
    BoardImage.objects.create(board=shared, image=shared_image)
    BoardImage.objects.create(board=private, image=private_image)
    assert removal_date(shared_image) is None
    assert removal_date(private_image) is not None

    purge()

    assert list(old.images.all()) == [shared_image]  # a private board keeps nothing
    assert shared.items.count() == 1
    assert private.items.count() == 0
    assert loose.pk not in {i.pk for i in old.images.all()}
