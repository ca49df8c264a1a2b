"""The live tests' wait loop fails, saying how many jobs did not finish, instead of returning."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from generations.models import Generation
from tests.live import wait_all_finished
from tests.portal_helpers import make_generation

pytestmark = pytest.mark.django_db


def finished(generation: Generation) -> Any:
    Generation.objects.filter(pk=generation.pk).update(finished_at=timezone.now())
    return generation.pk


def test_it_fails_naming_the_jobs_still_unfinished_at_the_deadline(user: Any) -> None:
    done = finished(make_generation(user))
    stuck = [make_generation(user, status=s).pk for s in ("queued", "running", "running")]
    with pytest.raises(AssertionError) as info:
        wait_all_finished([done, *stuck], within=0.2)
    assert str(info.value) == (
        "3 of 4 jobs still unfinished after 0.2s: {'queued': 1, 'running': 2}"
    )


def test_it_returns_once_every_job_finished(user: Any) -> None:
    jobs = [make_generation(user), make_generation(user, status=Generation.Status.FAILED)]
    wait_all_finished([finished(j) for j in jobs], within=0.2)
