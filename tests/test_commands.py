"""Operators' commands, run as an operator would (the task runs eagerly here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.quota import quota_status
from simulator.server import SimulatorServer

DEV = "black-forest-labs/flux.1-dev"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager_sim(settings: Any) -> Iterator[SimulatorServer]:
    from config.celery import app

    # Both names: with namespace="CELERY", Celery 5.6 reads the Django setting first.
    app.conf.update(task_always_eager=True, CELERY_TASK_ALWAYS_EAGER=True)
    with SimulatorServer(host="127.0.0.1", port=0) as server:
        settings.DARKROOM_SIMULATOR_URL = server.url
        yield server
    app.conf.update(task_always_eager=False, CELERY_TASK_ALWAYS_EAGER=False)


def test_generate_prints_the_stored_images(eager_sim: Any, user: Any, capsys: Any) -> None:
    call_command(
        "generate",
        "--user",
        "alice",
        "--model",
        DEV,
        "--prompt",
        "a lighthouse",
        "--param",
        "n=2",
        "--param",
        "size=320x256",
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "succeeded via channel modelverse"
    assert len(lines) == 4
    assert all(line.endswith("320x256 PNG") for line in lines[2:])
    assert quota_status(user=user, model=DEV).used == 2


def test_generate_reports_a_validation_error_naming_the_parameter(
    eager_sim: Any, user: Any
) -> None:
    with pytest.raises(CommandError, match=r"\[size\]"):
        call_command(
            "generate",
            "--user",
            "alice",
            "--model",
            DEV,
            "--prompt",
            "x",
            "--param",
            "size=9000x9000",
        )
    assert quota_status(user=user, model=DEV).reserved == 0


def test_generate_reports_an_upstream_failure(eager_sim: SimulatorServer, user: Any) -> None:
    eager_sim.add_fault("moderation", times=1)
    with pytest.raises(CommandError, match="moderation_blocked"):
        call_command("generate", "--user", "alice", "--model", DEV, "--prompt", "x")
    assert quota_status(user=user, model=DEV).left == 10


def test_generate_refuses_an_unknown_user(eager_sim: Any) -> None:
    with pytest.raises(CommandError, match="no user named"):
        call_command("generate", "--user", "nobody", "--model", DEV, "--prompt", "x")


def test_the_demo_admin_is_created_once(capsys: Any, django_user_model: Any) -> None:
    call_command("ensure_demo_admin")
    call_command("ensure_demo_admin")
    out = capsys.readouterr().out
    assert "Sign in as admin / darkroom-demo" in out
    assert "exists" in out
    assert django_user_model.objects.get(username="admin").is_superuser
