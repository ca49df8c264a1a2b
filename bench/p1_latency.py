"""P1: latency Darkroom adds over calling the upstream directly; LiteLLM's proxy as the peer.

    .venv/bin/python -m bench.p1_latency [--rounds 40] [--no-litellm]

One 1024x1024 PNG per request, sequentially, upstream latency 0, `response_format=url`.
Each round sends, in turn: the simulator's ModelVerse path directly, the same request
through Darkroom (`/v1/images/generations`, sync), the reseller's OpenAI-format path
directly, and the same through LiteLLM's proxy (LiteLLM refuses ModelVerse's `usage`
shape, so it relays the reseller path). "Added" is a subject's latency minus its own
direct baseline's, per percentile. LiteLLM is an optional bench dependency:
`pip install 'litellm[proxy]'` into .venv or, better, a venv of its own on PATH;
without it the figure has the direct baseline only.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.stack import (
    BIN,
    Stack,
    cpu_seconds,
    free_port,
    quantile,
    setup_django,
    stack,
    summary,
)
from tests.harness import wait_for_port

PROMPT = "a lighthouse at dusk"
MODEL = "black-forest-labs/flux.1-dev"
RESELLER_MODEL = "flux-dev"
SIM_KEY = "sim-key"
LITELLM_KEY = f"sk-{secrets.token_hex(32)}"  # the proxy refuses to start without one


def darkroom_key(username: str = "bench-p1") -> str:
    from accounts.api_keys import api_key_issue
    from accounts.models import User
    from accounts.quota import quota_set_limit

    user, _ = User.objects.get_or_create(username=username)
    for model in (MODEL, "black-forest-labs/flux-kontext-pro/text-to-image"):
        quota_set_limit(user=user, model=model, limit=10_000_000)
    return api_key_issue(user=user, name="bench")[1]


def caller(
    client: httpx.Client,
    url: str,
    key: str,
    model: str,
    moments: list[tuple[float, float]] | None = None,
) -> Callable[[], float]:
    body = {"model": model, "prompt": PROMPT, "size": "1024x1024", "n": 1}

    def call() -> float:
        start, sent = time.perf_counter(), time.time()
        response = client.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
        elapsed = (time.perf_counter() - start) * 1000
        if moments is not None:
            moments.append((sent, time.time()))
        assert response.status_code == 200, response.text[:500]
        assert response.json()["data"][0]["url"], response.text[:500]
        return elapsed

    return call


def start_litellm(s: Stack, simulator: str) -> str | None:
    # Our venv first, then PATH: a venv of its own keeps LiteLLM's pins away from ours.
    binary = shutil.which("litellm", path=str(BIN)) or shutil.which("litellm")
    if binary is None:
        print("LiteLLM is not installed: pip install 'litellm[proxy]' for the peer figure")
        return None
    config = s.dir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {RESELLER_MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{RESELLER_MODEL}\n"
        f"      api_base: {simulator}/v1\n"
        f"      api_key: {SIM_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_KEY}\n"
    )
    port = free_port()
    # Not our DATABASE_URL or REDIS_URL: LiteLLM would take them for its own.
    env = {k: v for k, v in s.env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    command = [binary, "--config", str(config), "--port", str(port)]
    proc = s.start("litellm", command, env=env)
    wait_for_port(port, proc, timeout=180)  # its imports take a minute on a loaded machine
    return f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--profile", help="py-spy the web and worker into this directory")
    args = parser.parse_args()
    setup_django()
    key = darkroom_key()
    moments: list[tuple[float, float]] = []
    with stack() as s, httpx.Client(timeout=120) as client:
        s.redis()
        simulator = s.simulator()
        s.worker(concurrency=16)
        web = s.web()
        subjects = {
            "direct (ModelVerse path)": caller(
                client, f"{simulator}/v1/images/generations", SIM_KEY, MODEL
            ),
            "darkroom": caller(client, f"{web}/v1/images/generations", key, MODEL, moments),
        }
        litellm = None if args.no_litellm else start_litellm(s, simulator)
        if litellm:
            subjects["direct (reseller path)"] = caller(
                client, f"{simulator}/v1/images/generations", SIM_KEY, RESELLER_MODEL
            )
            subjects["litellm"] = caller(
                client, f"{litellm}/v1/images/generations", LITELLM_KEY, RESELLER_MODEL
            )
        for run in subjects.values():  # warm up: connections, imports, plans
            for _ in range(3):
                run()
        if args.profile:
            for name, proc in (("web", s.web_proc), ("worker", s.worker_proc)):
                s.profile(proc, name, 30, Path(args.profile))
        found: dict[str, list[float]] = {name: [] for name in subjects}
        # CPU per image of each process that handles one: the worker does the job's
        # work (download, check, sign, store, thumbnail, settle), LiteLLM relays.
        procs = {"darkroom worker": s.worker_proc, "darkroom web": s.web_proc}
        if litellm:
            procs["litellm"] = next(p for p in s.procs if "litellm" in str(p.args))
        before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        for _ in range(args.rounds):
            for name, run in subjects.items():
                found[name].append(run())
        cpu = {n: (cpu_seconds(p.pid) - before[n]) * 1000 / args.rounds for n, p in procs.items()}
    report(found, args.rounds)
    print("CPU per image: " + ", ".join(f"{n} {ms:.1f} ms" for n, ms in cpu.items()))
    breakdown(key, moments)


def report(found: dict[str, list[float]], rounds: int) -> None:
    print(f"\nP1 sequential 1024x1024 sync generations, {rounds} rounds, upstream latency 0")
    for name, values in found.items():
        print(summary(name, values))
    added = {
        "darkroom": _added(found["darkroom"], found["direct (ModelVerse path)"]),
    }
    if "litellm" in found:
        added["litellm"] = _added(found["litellm"], found["direct (reseller path)"])
    for name, (p50, p99) in added.items():
        print(f"{name:28} added p50 {p50:+7.1f} ms | added p99 {p99:+7.1f} ms")
    if "litellm" in added:
        ours, peer = added["darkroom"], added["litellm"]
        print(f"darkroom / litellm added: p50 {_ratio(ours[0], peer[0])} (goal <= 1), ", end="")
        print(f"p99 {_ratio(ours[1], peer[1])} (goal <= 4)")
    base = statistics.median(found["direct (ModelVerse path)"])
    print(f"darkroom / direct median ratio {statistics.median(found['darkroom']) / base:.2f}x")


def breakdown(key: str, moments: list[tuple[float, float]]) -> None:
    """Where Darkroom's time went, p50, from the job's timestamps and the client's clock."""
    from accounts.models import ApiKey
    from generations.models import Generation

    api_key = ApiKey.objects.get_from_key(key)
    rows = list(Generation.objects.filter(api_key=api_key).order_by("created_at"))
    steps: dict[str, list[float]] = {}
    for (sent, received), g in zip(moments, rows, strict=True):
        assert g.started_at
        assert g.finished_at
        marks = [sent, g.created_at.timestamp(), g.started_at.timestamp()]
        marks += [g.finished_at.timestamp(), received]
        names = [
            "request in -> row",
            "row -> worker claim",
            "claim -> finished",
            "finished -> answer",
        ]
        for name, a, b in zip(names, marks, marks[1:], strict=False):
            steps.setdefault(name, []).append((b - a) * 1000)
    print(
        "darkroom p50 by step: "
        + ", ".join(f"{name} {statistics.median(v):.0f} ms" for name, v in steps.items())
    )


def _ratio(ours: float, peer: float) -> str:
    # The peer's added time can be ~0 or below on a noisy run: no meaningful ratio then.
    return f"{ours / peer:.1f}x" if peer >= 5 else f"n/a (peer added {peer:+.0f} ms)"


def _added(subject: list[float], base: list[float]) -> tuple[float, float]:
    return (
        quantile(subject, 0.5) - quantile(base, 0.5),
        quantile(subject, 0.99) - quantile(base, 0.99),
    )


if __name__ == "__main__":
    main()
