"""What a test needs from outside the process (PostgreSQL, Redis, Chromium), and what
happens when it is missing: outside CI the test skips, saying what to start; under CI
(`CI=true`, as CI services set it) the test fails, so a green run never hides tests
that did not run.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(reason: str) -> NoReturn:
    """Skip (or, under CI, fail) the running test because `reason` is missing."""
    if under_ci():
        pytest.fail(f"{reason} [CI=true: a missing service is a failure, not a skip]")
    pytest.skip(reason)
