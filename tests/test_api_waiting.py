"""Waiting requests share their reads: the batched "has it finished?" reads and the
hub's sweep for lost messages."""

from __future__ import annotations

import asyncio
from typing import Any

from generations.api.waiting import FinishedChecks, FinishedHub


class Lookups:
    def __init__(self, finished: set[str], error: Exception | None = None) -> None:
        self.finished, self.error = finished, error
        self.calls: list[list[str]] = []

    async def __call__(self, ids: list[str]) -> set[str]:
        self.calls.append(ids)
        await asyncio.sleep(0.05)  # a trip to a thread and the database
        if self.error is not None:
            raise self.error
        return self.finished & set(ids)


def test_many_waiters_starting_at_once_share_a_few_reads() -> None:
    lookups = Lookups({f"job{i}" for i in range(0, 300, 3)})

    async def run() -> list[bool]:
        checks = FinishedChecks(lookups)
        return await asyncio.gather(*(checks.finished(f"job{i}") for i in range(300)))

    answers = asyncio.run(run())

    assert answers == [i % 3 == 0 for i in range(300)]
    assert len(lookups.calls) <= 2  # the first asker's read, then one for all the rest
    asked = sorted(job for ids in lookups.calls for job in ids)
    assert asked == sorted(f"job{i}" for i in range(300))


def test_a_failed_read_fails_every_asker_and_the_next_read_runs() -> None:
    lookups = Lookups(set(), error=RuntimeError("database away"))

    async def run() -> list[Any]:
        checks = FinishedChecks(lookups)
        failed = await asyncio.gather(
            *(checks.finished(f"job{i}") for i in range(5)), return_exceptions=True
        )
        lookups.error, lookups.finished = None, {"job1"}
        return [*failed, await checks.finished("job1")]

    *failed, later = asyncio.run(run())

    assert all(isinstance(f, RuntimeError) for f in failed)
    assert later is True


def test_an_asker_that_gives_up_leaves_the_others_their_answer() -> None:
    lookups = Lookups({"a", "b"})

    async def run() -> list[Any]:
        checks = FinishedChecks(lookups)
        quitter = asyncio.ensure_future(checks.finished("a"))
        stayer = asyncio.ensure_future(checks.finished("b"))
        await asyncio.sleep(0)
        quitter.cancel()
        return list(await asyncio.gather(quitter, stayer, return_exceptions=True))

    quitter, stayer = asyncio.run(run())

    assert isinstance(quitter, asyncio.CancelledError)
    assert stayer is True


def test_the_sweep_wakes_the_waiters_whose_message_was_lost() -> None:
    lookups = Lookups({"lost"})

    async def run() -> tuple[bool, bool, int, list[list[str]]]:
        # Nothing listens on port 1: the subscription never comes up, the sweep still runs.
        hub = FinishedHub("redis://127.0.0.1:1/0", "finished", FinishedChecks(lookups), every=60)
        try:
            lost, waiting = hub.register("lost"), hub.register("still-running")
            woken = await hub.sweep()
            return lost.is_set(), waiting.is_set(), woken, lookups.calls
        finally:
            for task in (hub._task, hub._sweeper):
                task.cancel()

    lost, waiting, woken, calls = asyncio.run(run())

    assert (lost, waiting, woken) == (True, False, 1)
    assert [sorted(ids) for ids in calls] == [["lost", "still-running"]]  # one read for all
