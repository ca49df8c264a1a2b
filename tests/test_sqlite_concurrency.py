"""The embedded default (one SQLite file) under concurrent writers: they wait, none fails."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.live import BIN, ROOT, _env

# Only so the suite's test database exists for its session fixtures; the test uses its own file.
pytestmark = pytest.mark.django_db


def test_concurrent_submissions_and_results_on_one_sqlite_file_all_succeed(
    tmp_path: Path,
) -> None:
    env = _env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "CELERY_BROKER_URL": "memory://",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "DARKROOM_SQLITE_BUSY_TIMEOUT": "30",
        }
    )
    run = subprocess.run(
        [str(BIN / "python"), "-m", "tests.sqlite_writers"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])

    assert outcome == {"errors": [], "succeeded": 12, "used": 12, "reserved": 0}
