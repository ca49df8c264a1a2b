"""The API's real server for integration tests and the benchmark.

`running_api` runs `uvicorn config.asgi:application` as its own process on a
free port, beside tests.live's worker and simulator, on the same test database,
broker queue and media root.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from tests.live import (
    BIN,
    QUEUE,
    ROOT,
    PeakSampler,
    Simulator,
    _env,
    database_url,
    free_port,
    stop,
    wait_for_port,
)

DEV = "black-forest-labs/flux.1-dev"


def server_env(
    settings: Any, simulator: Simulator, redis_url: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    return _env(
        {
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": redis_url,
            "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "DARKROOM_SIMULATOR_URL": simulator.url,
            "DARKROOM_API_WAIT_CEILING": str(settings.DARKROOM_API_WAIT_CEILING),
            "DARKROOM_FETCH_ALLOW_HOSTS": ",".join(settings.DARKROOM_FETCH_ALLOW_HOSTS),
            "DARKROOM_API_RATE_LIMIT": str(settings.DARKROOM_API_RATE_LIMIT),
            **(extra or {}),
        }
    )


@dataclass
class ApiServer:
    proc: subprocess.Popen[Any]
    url: str  # ends in /v1
    log: Path
    port: int

    def threads(self) -> int:
        """How many threads the server process has right now."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:"))
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_api(
    env: dict[str, str], log: Path, app: str = "config.asgi:application", port: int = 0
) -> ApiServer:
    """The server on `port` (0: a free one); a restart passes the old server's port."""
    port = port or free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "uvicorn"),
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for_port(port, proc, timeout=60)
    except RuntimeError:
        stop(proc)
        raise RuntimeError(f"API server did not start:\n{log.read_text()[-3000:]}") from None
    return ApiServer(proc, f"http://127.0.0.1:{port}/v1", log, port)


@contextmanager
def running_api(
    settings: Any,
    simulator: Simulator,
    redis_url: str,
    log: Path,
    extra: dict[str, str] | None = None,
) -> Iterator[ApiServer]:
    """The API server for the duration of the block (use beside tests.live's live_worker)."""
    server = start_api(server_env(settings, simulator, redis_url, extra), log)
    try:
        yield server
    finally:
        stop(server.proc)


def thread_sampler(server: ApiServer) -> PeakSampler:
    """The most threads the server's process had while the block ran."""
    return PeakSampler(server.threads, every=0.05)


async def generate_many(server: ApiServer, key: str, count: int) -> list[Any]:
    async with AsyncOpenAI(base_url=server.url, api_key=key, timeout=300, max_retries=0) as client:
        return await asyncio.gather(
            *(
                client.images.generate(model=DEV, prompt=f"load {i}", size="256x256")
                for i in range(count)
            )
        )
