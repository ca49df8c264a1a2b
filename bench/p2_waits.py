"""P2: C synchronous generations waiting at once, upstream latency L.

    .venv/bin/python -m bench.p2_waits [--clients 100,300] [--latency 10] [--rounds 2]
                                       [--workers N]

Each wave sends C sync `/v1/images/generations` requests at once and waits for all.
The baseline is the same wave sent straight to a simulator (its own process, with the
same latency). Efficiency = completed per second / (C / L): 1.0 is "as fast as the
upstream allows". The workers get C threads between them (a synchronous upstream call
holds its thread), one process per core by default (`--workers`): a worker process
runs its Python on one core at a time, and at C=1000 one process was CPU-bound. Like
the web, a worker holds no database connection while it waits. Prints per subject and
size: efficiency, errors, p50/max latency, and the web + workers' peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
from pathlib import Path
from typing import Any

import httpx

from bench.p1_latency import MODEL, SIM_KEY, darkroom_key
from bench.stack import Stack, cpu_seconds, rss_mb, setup_django, stack
from bench.wave import wave as client_wave
from tests.live import PeakSampler


def rss_sampler(pids: list[int]) -> PeakSampler:
    """Peak resident memory of some processes (and their children) while the block runs."""
    return PeakSampler(lambda: sum(rss_mb(pid) for pid in pids), every=0.5)


BODY = {"model": MODEL, "prompt": "a lighthouse at dusk", "size": "256x256"}


async def wave(url: str, key: str, clients: int, timeout: float) -> dict[str, Any]:
    """C sync generations sent at once; see bench/wave.py for the client."""
    return await client_wave(url, key, BODY, clients, timeout)


def latency_fault(simulator: str, seconds: float) -> None:
    fault = {"fault": "latency", "seconds": seconds, "times": -1}
    httpx.post(f"{simulator}/_sim/faults", json=fault, timeout=10).raise_for_status()


def bring_up(s: Stack, threads: int, latency: float, workers: int = 1) -> tuple[str, str]:
    s.redis()
    ours = s.simulator("simulator-darkroom")
    direct = f"{Stack.simulator(s, 'simulator-direct')}/v1/images/generations"
    s.env["DARKROOM_SIMULATOR_URL"] = ours  # the second simulator() call changed it
    s.env["DARKROOM_UPSTREAM_TIMEOUT"] = str(latency * 20)
    for index in range(workers):  # the threads shared among the processes
        name = "worker" if index == 0 else f"worker{index + 1}"
        s.worker(concurrency=-(-threads // workers), name=name)
    web = f"{s.web()}/v1/images/generations"
    for sim in (ours, direct.removesuffix("/v1/images/generations")):
        latency_fault(sim, latency)
    return web, direct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="100,300")
    parser.add_argument("--latency", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", help="py-spy web and worker (first wave) into this dir")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes sharing the C threads (default: one per core; a worker "
        "process runs its Python on one core at a time)",
    )
    args = parser.parse_args()
    sizes = [int(c) for c in args.clients.split(",")]
    setup_django()
    key = darkroom_key("bench-p2")
    rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with stack() as s:
        web, direct = bring_up(s, max(sizes), args.latency, args.workers)
        asyncio.run(wave(web, key, 4, args.timeout))  # warm up
        if args.profile:
            for name, proc in (("p2-web", s.web_proc), ("p2-worker", s.worker_proc)):
                s.profile(proc, name, int(args.latency * 3), Path(args.profile))
        for _ in range(args.rounds):
            for clients in sizes:
                for name, url, token in (("direct", direct, SIM_KEY), ("darkroom", web, key)):
                    ours = [s.web_proc, *s.worker_procs]
                    pids = [p.pid for p in ours] if name == "darkroom" else []
                    cpu = CpuMeter(cpu_roles(s, name))
                    with rss_sampler(pids) as rss:
                        row = asyncio.run(wave(url, token, clients, args.timeout))
                    row["rss"] = rss.peak
                    row["cpu"] = cpu.per_call(clients)
                    rows.setdefault((name, clients), []).append(row)
    report(rows, sizes, args.latency)


def report(
    rows: dict[tuple[str, int], list[dict[str, Any]]], sizes: list[int], latency: float
) -> None:
    print(
        f"\nP2 synchronous waits, upstream latency {latency:g}s (efficiency: 1.0 = upstream pace)"
    )
    for clients in sizes:
        effs: dict[str, float] = {}
        for name in ("direct", "darkroom"):
            runs = rows[(name, clients)]
            eff = [r["done"] / r["wall"] / (clients / latency) for r in runs]
            lat = [x for r in runs for x in r["latencies"]] or [0.0]
            effs[name] = statistics.median(eff)
            print(
                f"C={clients:4} {name:8} efficiency min {min(eff):.2f} | median "
                f"{statistics.median(eff):.2f} | max {max(eff):.2f} | errors "
                f"{sum(r['errors'] for r in runs)} | latency p50 {statistics.median(lat):.1f}s "
                f"max {max(lat):.1f}s"
                + (
                    f" | web+worker RSS {max(r['rss'] for r in runs):.0f} MB"
                    if name == "darkroom"
                    else ""
                )
            )
        ratio = effs["darkroom"] / effs["direct"]
        print(f"C={clients:4} darkroom / direct efficiency ratio {ratio:.2f}")
        for name in ("direct", "darkroom"):
            print(f"C={clients:4} {name:8} CPU per call, ms: " + cpu_line(rows[(name, clients)]))


def cpu_roles(s: Stack, subject: str) -> dict[str, list[int]]:
    """The processes whose CPU a wave spends, by role: PostgreSQL's (every backend, the
    server's own included) and the bench client's own are counted too."""
    roles: dict[str, list[int]] = {"client": [os.getpid()]}
    if subject == "direct":
        roles["simulator"] = [s.named["simulator-direct"].pid]
        return roles
    roles["web"] = [s.web_proc.pid]
    roles["workers"] = [p.pid for p in s.worker_procs]
    roles["simulator"] = [s.named["simulator-darkroom"].pid]
    roles["redis"] = [p.pid for p in s.procs if "redis-server" in str(p.args)]
    roles["postgresql"] = postgres_pids()
    return roles


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU seconds per role from now on (processes that end or start meanwhile are missed:
    PostgreSQL backends come and go with the pools, so its figure is a floor)."""

    def __init__(self, roles: dict[str, list[int]]) -> None:
        self.roles = roles
        self.start = {role: self._used(pids) for role, pids in roles.items()}

    @staticmethod
    def _used(pids: list[int]) -> dict[int, float]:
        used = {}
        for pid in pids:
            with contextlib.suppress(OSError):
                used[pid] = cpu_seconds(pid)
        return used

    def per_call(self, calls: int) -> dict[str, float]:
        out = {}
        for role, pids in self.roles.items():
            now, then = self._used(pids), self.start[role]
            out[role] = sum(now[p] - then[p] for p in now if p in then) * 1000 / calls
        return out


def cpu_line(runs: list[dict[str, Any]]) -> str:
    roles = runs[0]["cpu"]
    medians = {r: statistics.median(run["cpu"][r] for run in runs) for r in roles}
    parts = [f"{role} {ms:.1f}" for role, ms in medians.items()]
    return ", ".join(parts) + f"; all {sum(medians.values()):.1f}"


if __name__ == "__main__":
    main()
