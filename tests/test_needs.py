"""A missing PostgreSQL, Redis or Chromium skips a test outside CI and fails it under CI."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import browser, conftest, live

SQLITE = SimpleNamespace(vendor="sqlite")


@pytest.fixture
def nothing_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "_reachable", lambda port: False)
    monkeypatch.setattr(conftest, "connection", SQLITE)
    monkeypatch.setattr(live, "connection", SQLITE)
    monkeypatch.setattr(browser, "CHROMIUM", Path("/nonexistent/chromium"))


NEEDS = [
    ("postgres", "needs PostgreSQL"),
    ("redis_url", "needs Redis on 127.0.0.1:6379"),
    ("browser_page", "needs Debian's chromium"),
]


@pytest.mark.parametrize(("fixture", "reason"), NEEDS)
def test_it_skips_saying_why_outside_ci(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    nothing_is_there: None,
    fixture: str,
    reason: str,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=reason):
        request.getfixturevalue(fixture)


@pytest.mark.parametrize(("fixture", "reason"), NEEDS)
def test_it_fails_under_ci(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    nothing_is_there: None,
    fixture: str,
    reason: str,
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{reason}.*CI=true"):
        request.getfixturevalue(fixture)


def test_the_live_worker_needs_postgresql_too(
    monkeypatch: pytest.MonkeyPatch, nothing_is_there: None
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="need PostgreSQL"):
        live.database_url()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="need PostgreSQL"):
        live.database_url()
