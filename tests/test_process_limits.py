"""The web and the worker raise their own open-file limit: 1,000 connections at once
must not stop at a 1024 soft limit."""

from __future__ import annotations

import resource
import weakref
from collections.abc import Iterator

import pytest

from common.ops.limits import raise_open_file_limit


@pytest.fixture
def soft_limit_1024() -> Iterator[int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_it_raises_the_soft_limit_up_to_the_hard_one(soft_limit_1024: int) -> None:
    hard = soft_limit_1024
    expected = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)

    assert raise_open_file_limit() == expected
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (expected, hard)


def test_it_never_lowers_the_limit(soft_limit_1024: int) -> None:
    assert raise_open_file_limit(wanted=512) == 1024
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 1024


def test_the_worker_raises_it_when_it_starts(soft_limit_1024: int) -> None:
    from celery.signals import worker_init

    from config.celery import _raise_open_file_limit

    connected = [r() if isinstance(r, weakref.ref) else r for _, r in worker_init.receivers]
    assert _raise_open_file_limit in connected
    _raise_open_file_limit()

    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 1024
