"""Batches of jobs for the live-worker tests and benchmarks: submit many, then measure how
many were in flight at once."""

from __future__ import annotations

from typing import Any

from generations.models import Generation
from generations.services import generation_create


def submit_batch(user: Any, *, model: str, count: int, tag: str) -> list[Any]:
    """`count` one-image jobs, queued as the API and portal queue them; returns their ids."""
    return [
        generation_create(
            user=user, model=model, prompt=f"{tag} kite {i}", params={"size": "256x256"}
        ).pk
        for i in range(count)
    ]


def max_overlap(jobs: list[Generation]) -> int:
    """The most jobs ever between their first step and their finish at the same moment."""
    events = sorted(
        [(j.started_at, 1) for j in jobs if j.started_at]
        + [(j.finished_at, -1) for j in jobs if j.finished_at]
    )
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak
