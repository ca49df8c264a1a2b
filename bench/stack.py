"""What every bench command needs: its own database, Redis and processes, and the stats.

Each `python -m bench.pN` run brings up what it needs and stops it again. They all use
the PostgreSQL database `darkroom_bench_perf` (created and migrated on first use) and a
Redis server of their own on a free port, so they never touch a test or dev database.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.harness import RedisServer, free_port, stop, wait_for_log, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DB_NAME = os.environ.get("BENCH_DB_NAME", "darkroom_bench_perf")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE_URL = f"{PG}/{DB_NAME}"
SECRET_KEY = "bench-only-insecure-key"  # noqa: S105 - a throwaway database


def setup_django() -> None:
    """Point this process at the bench database and start Django."""
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ["SECRET_KEY"] = SECRET_KEY
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DARKROOM_API_RATE_LIMIT"] = "0"
    os.environ["DEBUG"] = "false"
    _create_database()
    sys.path.insert(0, str(ROOT))
    import logging

    import django
    from django.core.management import call_command

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)


def _create_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


class Stack:
    """Processes started for one bench run; `stop()` ends exactly those."""

    def __init__(self, root: Path = ROOT) -> None:
        """`root`: the checkout whose code the web and worker run (another one, e.g. main's,
        for a baseline in the same run; this venv's packages either way)."""
        self.root = root
        self.procs: list[subprocess.Popen[Any]] = []
        self.named: dict[str, subprocess.Popen[Any]] = {}  # by the name start() was given
        self.profilers: list[subprocess.Popen[Any]] = []
        self.dir = Path(tempfile.mkdtemp(prefix="darkroom-bench-"))
        self.env = {
            **os.environ,
            "DATABASE_URL": DATABASE_URL,
            "SECRET_KEY": SECRET_KEY,
            "DEBUG": "false",
            "MEDIA_ROOT": str(self.dir / "media"),
            "DARKROOM_API_RATE_LIMIT": "0",
            "DARKROOM_API_WAIT_CEILING": "600",
        }
        if root != ROOT:  # its modules before anything on the venv's path
            self.env["PYTHONPATH"] = str(root)

    def start(
        self,
        name: str,
        command: Sequence[str],
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> Any:
        log = (self.dir / f"{name}.log").open("w")
        proc = subprocess.Popen(
            list(command), cwd=self.root, env=env or self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        self.named[name] = proc
        if port is not None:
            wait_for_port(port, proc)
        return proc

    def redis(self) -> str:
        redis = RedisServer(self.dir / "redis.log")
        assert redis.proc is not None
        self.procs.append(redis.proc)
        url = redis.url
        self.env["CELERY_BROKER_URL"] = url
        self.env["REDIS_URL"] = url
        return url

    def simulator(self, name: str = "simulator") -> str:
        port = free_port()
        command = [str(BIN / "python"), "manage.py", "simulator", "--port", str(port)]
        self.start(name, command, port)
        url = f"http://127.0.0.1:{port}"
        self.env["DARKROOM_SIMULATOR_URL"] = url
        return url

    def worker(self, concurrency: int = 16, name: str = "worker") -> None:
        """A worker process; call again with another `name` for more (`worker_procs`)."""
        command = [str(BIN / "celery"), "-A", "config", "worker", "--pool", "threads"]
        command += ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle"]
        command += ["--loglevel", "INFO"]
        if name != "worker":  # two nodes of one name on one host: Celery warns, ours differ
            command += ["--hostname", f"{name}@%h"]
        proc = self.start(name, command)
        if name == "worker":
            self.worker_proc = proc
        self.worker_procs = [*getattr(self, "worker_procs", []), proc]
        wait_for_log(proc, self.dir / f"{name}.log", " ready.")

    def web(self, extra: Sequence[str] = (), app: str = "config.asgi:application") -> str:
        port = free_port()
        command = [str(BIN / "uvicorn"), app, "--port", str(port)]
        command += ["--log-level", "warning", "--no-access-log", *extra]
        self.web_proc = self.start("web", command, port)
        return f"http://127.0.0.1:{port}"

    def profile(
        self,
        proc: Any,
        name: str,
        seconds: int,
        out_dir: Path,
        *,
        gil: bool = True,
        rate: int = 100,
    ) -> None:
        """py-spy (if installed) on one of our processes for `seconds`: out_dir/name.txt.

        `gil`: only samples holding the GIL (what contends for it); False samples every
        thread on a CPU, so C code that releases the GIL (image decoding) counts too."""
        if shutil.which("py-spy", path=str(BIN)) is None:
            print("py-spy is not installed; no profile")
            return
        out = out_dir / f"{name}.txt"
        command = [str(BIN / "py-spy"), "record", "--pid", str(proc.pid), "--threads"]
        command += ["--gil"] if gil else []
        command += ["--rate", str(rate), "--duration", str(seconds), "--format", "raw"]
        command += ["--output", str(out)]
        self.profilers.append(self.start(f"py-spy-{name}", command))

    def stop(self) -> None:
        for proc in self.profilers:  # py-spy writes its profile on SIGINT, not on SIGTERM
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        for proc in reversed(self.procs):
            stop(proc)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def stack(root: Path = ROOT) -> Iterator[Stack]:
    s = Stack(root)
    try:
        yield s
    finally:
        s.stop()


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_ns(pid: int) -> int:
    """CPU time of a process's live threads so far, in ns (/proc schedstat: finer than
    `cpu_seconds`' clock ticks, but a thread that ends takes its time with it)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue
    return total


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    found = [int(c) for c in text.split()]
    return found + [g for c in found for g in _children(c)]


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, values: Sequence[float], unit: str = "ms") -> str:
    return (
        f"{name:28} min {min(values):8.1f} | median {statistics.median(values):8.1f} | "
        f"p95 {quantile(values, 0.95):8.1f} | max {max(values):8.1f} {unit}"
    )


def ratio(name: str, ours: float, base: float) -> str:
    return f"{name:28} ratio {ours / base:6.2f}x  ({ours:.1f} vs {base:.1f})"


def interleave(rounds: int, subjects: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run every subject once per round, in turn, so drift on the machine hits all alike."""
    found: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(rounds):
        for name, run in subjects.items():
            found[name].append(run())
    return found
