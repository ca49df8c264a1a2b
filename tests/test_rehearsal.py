"""Several machines, rehearsed with real processes on one host.

Two uvicorn web processes and two Celery workers (threads pool) plus beat, sharing
only one PostgreSQL (the test database), one Redis (our own, on a free port) and an
S3-speaking server over HTTP (moto_server). Clients spread their requests over both
webs; mid-run one worker and one web process are SIGKILLed. In the end every job has
finished exactly once and every image is in the bucket. A second beat, started while
the first runs, waits for RedBeat's lock and takes over only when the first stops.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts.api_keys import api_key_issue
from accounts.models import Quota
from generations.models import Generation, Image
from tests.harness import wait_until
from tests.live import BIN, QUEUE, ROOT, _env, database_url, free_port, start_worker, stop
from tests.live import wait_for_port as wait_port
from tests.servers import BUCKET, S3_ENV, RedisServer, S3Server

pytestmark = [pytest.mark.integration]

DEV = "black-forest-labs/flux.1-dev"
JOBS = 10


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[Any]:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


class Cluster:
    def __init__(self, tmp: Path, redis: RedisServer, s3: S3Server) -> None:
        self.tmp, self.procs = tmp, []  # type: ignore[var-annotated]
        self.sim_port = free_port()
        self.sim = self._start(
            [
                str(BIN / "python"),
                "manage.py",
                "simulator",
                "--port",
                str(self.sim_port),
                "--latency",
                "2",
            ],
            "simulator",
        )
        wait_port(self.sim_port, self.sim)
        self.env = _env(
            {
                **S3_ENV,
                "DATABASE_URL": database_url(),
                "CELERY_BROKER_URL": redis.url,
                "REDIS_URL": redis.url,
                "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
                # A killed worker's job: its lease ends after 5 s and beat's relay, every
                # 2 s, publishes it again (or Redis redelivers the unacked message).
                "DARKROOM_LEASE_SECONDS": "5",
                # A step marked sent is taken over only after the upstream timeout + lease
                # (a late paid answer must never meet a second send): 20 s here, against
                # the simulator's 2 s calls, instead of the default 180 s.
                "DARKROOM_UPSTREAM_TIMEOUT": "20",
                "DARKROOM_RELAY_INTERVAL": "2",
                "CELERY_VISIBILITY_TIMEOUT": "20",
                "STORAGE_BACKEND": "s3",
                "AWS_STORAGE_BUCKET_NAME": BUCKET,
                "AWS_S3_ENDPOINT_URL": s3.url,
                "AWS_S3_REGION_NAME": "us-east-1",
                "DARKROOM_SIMULATOR_URL": f"http://127.0.0.1:{self.sim_port}",
                "DARKROOM_API_RATE_LIMIT": "0",
                "DARKROOM_LOG_FORMAT": "json",
                "DARKROOM_BEAT_LOCK": "true",
                "ALLOWED_HOSTS": "127.0.0.1",
                "SESSION_COOKIE_SECURE": "false",
                "CSRF_COOKIE_SECURE": "false",
            }
        )

    def _start(self, args: list[str], name: str, env: dict[str, str] | None = None) -> Any:
        proc = _spawn(args, env or _env({}), self.tmp / f"{name}.log")
        self.procs.append(proc)
        return proc

    def web(self, name: str) -> tuple[Any, str]:
        port = free_port()
        proc = self._start(
            [
                str(BIN / "uvicorn"),
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--timeout-graceful-shutdown",
                "5",
            ],
            name,
            self.env,
        )
        wait_port(port, proc, timeout=60)
        return proc, f"http://127.0.0.1:{port}"

    def worker(self, name: str, metrics_port: int) -> Any:
        env = {**self.env, "DARKROOM_WORKER_METRICS_PORT": str(metrics_port)}
        worker = start_worker(env, self.tmp / f"{name}.log", concurrency=2)
        self.procs.append(worker.proc)
        return worker.proc

    def beat(self, name: str) -> Any:
        return self._start(
            [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO"], name, self.env
        )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def json_lines(self, *names: str) -> list[dict[str, Any]]:
        lines = []
        for name in names:
            for line in self.log(name).splitlines():
                if line.startswith("{"):
                    lines.append(json.loads(line))
        return lines

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                stop(proc)


@pytest.fixture
def cluster(
    transactional_db: None, own_redis: RedisServer, s3_server: S3Server, tmp_path: Path
) -> Any:
    c = Cluster(tmp_path, own_redis, s3_server)
    try:
        yield c
    finally:
        c.close()


def test_two_webs_two_workers_one_beat_survive_losing_a_worker_and_a_web(
    cluster: Cluster, s3_server: S3Server, user: Any
) -> None:
    web_a, url_a = cluster.web("web-a")
    web_b, url_b = cluster.web("web-b")
    worker_a = cluster.worker("worker-a", metrics_port=free_port())
    metrics_b = free_port()
    cluster.worker("worker-b", metrics_port=metrics_b)
    beat_1 = cluster.beat("beat-1")
    wait_until(
        lambda: "Acquired lock" in cluster.log("beat-1"),
        within=60,
        what="the first beat took the lock",
    )
    beat_2 = cluster.beat("beat-2")

    key = api_key_issue(user=user, name="rehearsal")[1]
    headers = {"Authorization": f"Bearer {key}", "Prefer": "respond-async"}
    jobs: dict[str, str] = {}
    for i in range(JOBS):
        base = (url_a, url_b)[i % 2]
        response = httpx.post(
            f"{base}/v1/images/generations",
            json={"model": DEV, "prompt": f"rehearsal {i}", "n": 1, "size": "256x256"},
            headers={**headers, "x-request-id": f"rehearsal-{i}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        jobs[response.json()["id"]] = f"rehearsal-{i}"

    # Mid-run: each worker holds upstream calls (2 s each); kill one of each kind.
    wait_until(
        lambda: Generation.objects.filter(status=Generation.Status.RUNNING).count() >= 2,
        within=30,
        what="jobs running",
    )
    worker_a.send_signal(signal.SIGKILL)
    web_b.send_signal(signal.SIGKILL)
    assert "Acquired lock" not in cluster.log("beat-2")  # the lock keeps beat single

    def finished() -> bool:
        states = [
            httpx.get(f"{url_a}/v1/images/jobs/{job}", headers=headers, timeout=10).json()
            for job in jobs
        ]
        return all(s["status"] in ("succeeded", "failed") for s in states)

    wait_until(
        finished,
        within=120,
        what="every job finished (a killed worker's jobs come back to the queue)",
        every=0.5,
    )

    # The killed worker held jobs it never finished; the other worker finished them.
    held = _unfinished_jobs(cluster.json_lines("worker-a"))
    finished_by_b = {
        line["job_id"] for line in cluster.json_lines("worker-b") if line.get("job_id")
    }
    assert held
    assert held <= finished_by_b

    # Every job ended once: succeeded, one image each, the quota counted once.
    generations = list(Generation.objects.filter(pk__in=list(jobs)))
    assert {g.status for g in generations} == {Generation.Status.SUCCEEDED}
    images = list(Image.objects.filter(generation__in=generations))
    assert sorted(str(i.generation_id) for i in images) == sorted(jobs)
    quota = Quota.objects.get(user=user, model=DEV)
    assert (quota.used, quota.reserved) == (JOBS, 0)
    # Every image and its thumbnail (made just after the job's answer) is in the bucket.
    wait_until(
        lambda: not Image.objects.filter(generation__in=generations, thumbnail="").exists(),
        within=60,
        what="every thumbnail made",
    )
    images = list(Image.objects.filter(generation__in=generations))
    assert {name for i in images for name in (i.file.name, i.thumbnail.name)} <= s3_server.keys()

    # One generation followed across processes: the caller's request id in the worker's logs.
    # A job resumed by beat's relay (the killed worker's) logs its job id without it: the
    # request id rides in the message, and the relay publishes a new one.
    worker_lines = cluster.json_lines("worker-a", "worker-b")
    for job, request_id in jobs.items():
        ids = {line["request_id"] for line in worker_lines if line.get("job_id") == job} - {""}
        assert ids <= {request_id}  # never another request's id
        if job not in held:
            assert ids == {request_id}

    # Worker metrics come from the worker's own exporter; the web reads the job gauges.
    worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_b}/metrics", timeout=10).text
    assert f'darkroom_generations_total{{model="{DEV}",source="api",status="succeeded"}}' in (
        worker_metrics
    )
    assert "darkroom_jobs_queued 0.0" in httpx.get(f"{url_a}/metrics", timeout=10).text
    assert httpx.get(f"{url_a}/readyz", timeout=10).status_code == 200
    assert web_a.poll() is None

    # The beat lock: the waiting beat takes over once the first one stops.
    beat_1.send_signal(signal.SIGTERM)
    wait_until(
        lambda: "Acquired lock" in cluster.log("beat-2"),
        within=45,
        what="the second beat took over",
    )
    assert beat_2.poll() is None


def _unfinished_jobs(lines: list[dict[str, Any]]) -> set[str]:
    """Jobs whose run_generation task this worker received but never finished."""
    received: dict[str, str] = {}
    done: set[str] = set()
    for line in lines:
        data = line.get("data") or {}
        if data.get("name") != "generations.tasks.run_generation":
            continue
        if line["message"].endswith(" received"):
            received[data["id"]] = re.findall(r"'([0-9a-f-]{36})'", data["args"])[0]
        elif " succeeded in " in line["message"]:
            done.add(data["id"])
    return {job for task, job in received.items() if task not in done}
