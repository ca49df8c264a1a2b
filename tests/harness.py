"""The one harness for tests and bench/: free ports, processes, a Redis of one's own, waiting.

Everything here is plain Python (no fixtures, no Django settings), so a benchmark imports
it as readily as a test does. Waiting always goes through `wait_until`: it returns the
first truthy value the condition gave, or fails saying what was not reached and after how
long. A wait that reaches its deadline never returns quietly.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

from tests.needs import missing

T = TypeVar("T")


_pick = random.SystemRandom()


def free_port() -> int:
    """A port free now, outside the kernel's ephemeral range.

    The kernel hands ports of that range to outgoing connections as their source port, so
    a port of it found free (bind to 0) may be some connection's by the time the server we
    start binds it ("address already in use", seen under load). Ports below the range are
    taken only by servers asking for them by number.
    """
    low = _ephemeral_low()
    for _ in range(100):
        port = _pick.randrange(10000, low) if low > 11000 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise AssertionError("no free port below the ephemeral range after 100 tries")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def wait_until(condition: Callable[[], T], *, within: float, what: str, every: float = 0.2) -> T:
    """The first truthy value of `condition()`, polled every `every` s; fails past `within` s."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not {what} after {within:g}s")
        time.sleep(every)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """Wait until `proc` listens on `port`; fail at once if it exits first."""

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        return _listening(port)

    wait_until(up, within=timeout, what=f"listening on port {port}", every=0.1)


def wait_for_log(proc: subprocess.Popen[Any], log: Path, text: str, timeout: float = 60.0) -> None:
    """Wait until `text` appears in `log`; fail with the log's tail if `proc` exits first."""

    def seen() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited before {text!r}:\n{log.read_text()[-3000:]}")
        return text in log.read_text(errors="replace")

    try:
        wait_until(seen, within=timeout, what=f"{text!r} in {log.name}")
    except AssertionError as exc:
        raise RuntimeError(f"{exc}:\n{log.read_text()[-3000:]}") from None


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RedisServer:
    """redis-server on a free port of its own (never the shared one), no persistence.

    A restart (`kill` then `start`) comes back empty on the same port, as a real Redis
    without persistence does.
    """

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.port, self.log = port or free_port(), log
        self.proc: subprocess.Popen[Any] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("needs redis-server on PATH (apt-get install redis-server)")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.proc = subprocess.Popen(command, stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop(self.proc)


def wait_all_finished(jobs: Collection[Any], within: float) -> None:
    """Wait until every job (a Generation or its id) is finished: its `finished_at` is set.

    `finished_at` is written in the transaction that ends the job, so a job counted here
    has its images and quota settled. Past `within` seconds it fails, naming how many did
    not finish and their statuses, instead of returning quietly.
    """
    from generations.models import Generation

    ids = [getattr(job, "pk", job) for job in jobs]

    def unfinished() -> Any:
        return Generation.objects.filter(pk__in=ids, finished_at__isnull=True)

    try:
        wait_until(lambda: not unfinished().exists(), within=within, what="finished", every=0.5)
    except AssertionError:
        statuses = Counter(unfinished().values_list("status", flat=True))
        raise AssertionError(
            f"{sum(statuses.values())} of {len(ids)} jobs still unfinished after "
            f"{within:g}s: {dict(sorted(statuses.items()))}"
        ) from None


class PeakSampler:
    """The highest value `read()` gave, read every `every` seconds while the block ran."""

    def __init__(self, read: Callable[[], float], every: float) -> None:
        self.read, self.every, self._stop = read, every, threading.Event()
        self.peak: float = 0

    def __enter__(self) -> PeakSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.read())
