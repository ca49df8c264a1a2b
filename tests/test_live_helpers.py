"""The live tests' wait loop fails, saying how many jobs did not finish, instead of returning."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.utils import timezone

from generations.models import Generation
from tests import harness
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


@pytest.mark.django_db(databases=[])
def test_free_ports_are_below_the_range_outgoing_connections_take() -> None:
    # A port of the ephemeral range may become a connection's source port before the
    # server binds it: the CI run of 2026-12-07 lost an API server so ("address in use").
    low = harness._ephemeral_low()
    ports = {harness.free_port() for _ in range(20)}
    assert all(1024 < port < low for port in ports), ports
    assert len(ports) > 1  # picked at random, not one port handed to every caller
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
