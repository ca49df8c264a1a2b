"""The direct wave of P2, for the simulator alone: asyncio against threaded transport.

    .venv/bin/python -m bench.simulator_load [--clients 1000] [--latency 10] [--rounds 2]

Two simulator processes (`manage.py simulator --latency L`, one of them `--threaded`,
a thread per connection as before), and waves of C requests sent at once to each in
turn, interleaved. Efficiency = completed per second / (C / L): 1.0 is the physical
limit. Prints each transport's efficiency, errors and the simulator's peak threads and
memory. The suite keeps a functional version (tests/test_simulator.py:
test_waiting_calls_hold_no_thread_each).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from bench.p1_latency import SIM_KEY
from bench.p2_waits import latency_fault, wave
from bench.stack import BIN, Stack, cpu_seconds, free_port, rss_mb, stack
from tests.harness import PeakSampler


def simulator(s: Stack, name: str, *extra: str) -> tuple[str, int]:
    port = free_port()
    command = [str(BIN / "python"), "manage.py", "simulator", "--port", str(port), *extra]
    proc = s.start(name, command, port)
    return f"http://127.0.0.1:{port}", proc.pid


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(next(line.split()[1] for line in fh if line.startswith("Threads:")))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    rows: dict[str, list[str]] = {"asyncio": [], "threaded": []}
    with stack() as s:
        sims = {
            "asyncio": simulator(s, "sim-asyncio"),
            "threaded": simulator(s, "sim-threaded", "--threaded"),
        }
        for url, _ in sims.values():
            latency_fault(url, args.latency)
        for _ in range(args.rounds):
            for name, (url, pid) in sims.items():
                cpu = cpu_seconds(pid)
                with (
                    PeakSampler(lambda p=pid: threads_of(p), every=0.2) as threads,
                    PeakSampler(lambda p=pid: rss_mb(p), every=0.5) as rss,
                ):
                    row = asyncio.run(
                        wave(f"{url}/v1/images/generations", SIM_KEY, args.clients, 600)
                    )
                efficiency = row["done"] / row["wall"] / (args.clients / args.latency)
                used = (cpu_seconds(pid) - cpu) * 1000 / args.clients
                rows[name].append(
                    f"{efficiency:.2f} ({row['errors']} errors, {threads.peak:.0f} threads, "
                    f"{rss.peak:.0f} MB, {used:.1f} ms CPU per call)"
                )
    print(
        f"\nsimulator alone: {args.clients} requests at once, {args.latency:g}s upstream "
        f"latency each; efficiency 1.0 = C/L"
    )
    for name, runs in rows.items():
        print(f"  {name:9} " + " | ".join(runs))
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the end")


if __name__ == "__main__":
    main()
