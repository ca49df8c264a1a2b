"""P6 in-process: the worker step's thread CPU, whole and by part.

    .venv/bin/python -m bench.p6_steps [--steps 40]

One API job at a time (1024x1024, flux.1-dev) created in this process and run by
`generations.dispatch.generation_run` against a simulator in this process, as a worker
thread would run it, on the bench database. Prints the median thread CPU of a whole
step and, per part (each wrapped while the steps run; parts nest: the thumbnail is
inside the finishing), its thread CPU per step. No broker: the job is not queued.
Thread CPU, not wall time: the simulator's drawing runs on its own thread.
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.stack import setup_django

MODEL = "black-forest-labs/flux.1-dev"
PARTS = [  # (module, function): what the step calls, under the name it calls it by
    ("generations.leases", "claim_and_read"),
    ("generations.dispatch", "channels_for"),
    ("generations.dispatch", "_mark_sent"),
    ("generations.dispatch", "download_results"),
    ("generations.dispatch", "_append_attempt"),
    ("generations.dispatch", "generation_succeed"),
    ("generations.services", "store_images"),
    ("generations.results", "sign_original"),
    ("generations.services", "_finish"),
    ("generations.services", "add_thumbnails"),
    ("common.images", "thumbnail_of"),
    ("generations.dispatch", "channel_succeeded"),
]


def timed(spent: dict[str, float], label: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return func(*args, **kwargs)
        finally:
            spent[label] += time.thread_time() - start

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    os.environ.pop("REDIS_URL", None)  # no broker, no pub/sub: the step alone
    setup_django()
    from django.conf import settings

    import generations.publishing
    from accounts.models import User
    from accounts.quota import quota_set_limit
    from generations.dispatch import generation_run
    from generations.models import Generation
    from generations.services import generation_create
    from simulator.server import SimulatorServer

    generations.publishing.publish = lambda *args, **kwargs: True  # not queued
    user, _ = User.objects.get_or_create(username="bench-p6")
    quota_set_limit(user=user, model=MODEL, limit=10_000_000)
    spent: dict[str, float] = collections.defaultdict(float)

    def step() -> float:
        job = generation_create(
            user=user,
            model=MODEL,
            prompt="a lighthouse at dusk",
            params={"size": "1024x1024"},
            source=Generation.Source.API,
        )
        start = time.thread_time()
        assert generation_run(generation_id=job.pk, channel_name=None).delay is None
        return time.thread_time() - start

    with SimulatorServer(host="127.0.0.1", port=0) as sim:
        settings.DARKROOM_SIMULATOR_URL = sim.url
        for _ in range(5):  # warm up: connections, imports, the signer
            step()
        for module, name in PARTS:
            where = importlib.import_module(module)
            setattr(where, name, timed(spent, name, getattr(where, name)))
        whole = [step() for _ in range(args.steps)]
    print(f"\nP6 in-process, {args.steps} steps of one 1024x1024 API job; thread CPU")
    print(f"  whole step        median {statistics.median(whole) * 1000:6.2f} ms")
    for _, name in PARTS:
        print(f"  {name:18}        {spent[name] * 1000 / args.steps:6.2f} ms per step")


if __name__ == "__main__":
    main()
