"""P4: async submissions one web process accepts, against the same process's /v1/models.

    .venv/bin/python -m bench.p4_submissions [--clients 50] [--seconds 8] [--rounds 3]

One uvicorn process on Redis + PostgreSQL, no worker (jobs stay queued). Each round,
in turn: `clients` concurrent clients POST `/v1/images/generations` with
`Prefer: respond-async` for `seconds`, then the same clients GET `/v1/models` for as
long. Prints accepted/s, the /v1/models rate (the baseline) and their ratio, and the
web process's CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench.p1_latency import MODEL, darkroom_key
from bench.stack import setup_django, stack

Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def hammer(
    url: str, key: str, request: Request, clients: int, seconds: float
) -> tuple[int, int]:
    """Requests answered 2xx and failed, by `clients` concurrent loops for `seconds`."""
    ok = failed = 0
    end = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=60, limits=limits
    ) as client:

        async def loop() -> None:
            nonlocal ok, failed
            while time.monotonic() < end:
                try:
                    response = await request(client)
                except httpx.HTTPError as exc:
                    failed += 1
                    if failed <= 3:
                        print(f"  {exc!r}")
                    continue
                if response.is_success:
                    ok += 1
                else:
                    failed += 1
                    if failed <= 3:  # say why, once or twice
                        print(f"  {response.status_code}: {response.text[:300]}")

        await asyncio.gather(*(loop() for _ in range(clients)))
    return ok, failed


async def submit(client: httpx.AsyncClient) -> httpx.Response:
    body = {"model": MODEL, "prompt": "a lighthouse at dusk", "size": "256x256"}
    response = await client.post(
        "/v1/images/generations", json=body, headers={"Prefer": "respond-async"}
    )
    assert response.status_code in (202, 429, 500, 503), response.text[:300]
    return response


async def list_models(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/v1/models")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="py-spy the web process into this directory")
    args = parser.parse_args()
    setup_django()
    key = darkroom_key("bench-p4")
    rates: dict[str, list[float]] = {"submissions": [], "/v1/models": []}
    cpu_ms: dict[str, list[float]] = {"submissions": [], "/v1/models": []}
    errors = {"submissions": 0, "/v1/models": 0}
    with stack() as s:
        s.redis()
        web = s.web()
        pid = s.web_proc.pid
        asyncio.run(hammer(web, key, list_models, 5, 1.0))  # warm up
        asyncio.run(hammer(web, key, submit, 5, 1.0))
        if args.profile:
            s.profile(s.web_proc, "web-p4", int(args.seconds * 2 * args.rounds), Path(args.profile))
        for _ in range(args.rounds):
            for name, request in (("submissions", submit), ("/v1/models", list_models)):
                cpu = cpu_seconds(pid)
                start = time.monotonic()
                ok, failed = asyncio.run(hammer(web, key, request, args.clients, args.seconds))
                wall = time.monotonic() - start
                rates[name].append(ok / wall)
                cpu_ms[name].append((cpu_seconds(pid) - cpu) * 1000 / max(ok, 1))
                errors[name] += failed
    print(f"\nP4 {args.clients} clients, {args.rounds} rounds of {args.seconds:g}s each, no worker")
    for name, values in rates.items():
        print(
            f"{name:14} req/s min {min(values):6.1f} | median {statistics.median(values):6.1f} "
            f"| max {max(values):6.1f} | web CPU {statistics.median(cpu_ms[name]):5.1f} ms/req "
            f"| errors {errors[name]}"
        )
    ratio = statistics.median(rates["submissions"]) / statistics.median(rates["/v1/models"])
    print(f"submissions / models ratio {ratio:.2f} (goal >= 0.8, and >= 300/s)")


if __name__ == "__main__":
    main()
