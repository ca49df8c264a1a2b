"""P1: latency Darkroom adds over calling the upstream directly; LiteLLM's proxy as the peer.

    .venv/bin/python -m bench.p1_latency [--rounds 40] [--no-litellm]

One 1024x1024 PNG per request, sequentially, upstream latency 0, `response_format=url`.
Each round sends, in turn: the simulator's ModelVerse path directly (the call and the
download of its result, which the simulator draws on that download), the same request
through Darkroom (`/v1/images/generations`, sync), the reseller's OpenAI-format path
directly, and the same through LiteLLM's proxy (LiteLLM refuses ModelVerse's `usage`
shape, so it relays the reseller path). "Added" is a subject's latency minus its own
direct baseline's, per percentile. LiteLLM is an optional bench dependency:
`pip install 'litellm[proxy]'` into .venv or, better, a venv of its own on PATH;
without it the figure has the direct baseline only.

`--baseline DIR` runs a second Darkroom (web and worker, Redis of its own, the same
simulator and database) from another checkout, e.g. main's (`git worktree add --detach
/tmp/base main`), interleaved in the same rounds: before/after in one run. CPU per image
is read from /proc around the rounds for each worker, web and LiteLLM; each process's
idle CPU (measured for a few seconds before the rounds, no request in flight) is shown
with it, since a round lasts as long as all subjects take.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.stack import (
    BIN,
    Stack,
    cpu_seconds,
    free_port,
    interleave,
    quantile,
    run_ns,
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
    *,
    download: bool = False,
) -> Callable[[], float]:
    """One timed call; `download` also fetches the result (the picture in hand)."""
    body = {"model": model, "prompt": PROMPT, "size": "1024x1024", "n": 1}

    def call() -> float:
        start, sent = time.perf_counter(), time.time()
        response = client.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text[:500]
        link = response.json()["data"][0]["url"]
        assert link, response.text[:500]
        if download:
            assert client.get(link).content[:8] == b"\x89PNG\r\n\x1a\n"
        elapsed = (time.perf_counter() - start) * 1000
        if moments is not None:
            moments.append((sent, time.time()))
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
    parser.add_argument("--baseline", type=Path, help="a second Darkroom from this checkout")
    args = parser.parse_args()
    setup_django()
    keys = {"darkroom": darkroom_key()}
    if args.baseline:
        keys["baseline"] = darkroom_key("bench-p1-baseline")
    moments: dict[str, list[tuple[float, float]]] = {name: [] for name in keys}
    with contextlib.ExitStack() as stacks, httpx.Client(timeout=120) as client:
        s = stacks.enter_context(stack())
        s.redis()
        simulator = s.simulator()
        # ModelVerse's results are drawn on their first download (simulator/modelverse.py),
        # which Darkroom's worker makes: the direct baseline downloads too.
        direct = caller(client, f"{simulator}/v1/images/generations", SIM_KEY, MODEL, download=True)
        subjects = {"direct (ModelVerse path)": direct}
        procs: dict[str, Any] = {}
        for name in keys:
            # The baseline: a second Darkroom (own Redis) from the other checkout.
            d = s if name == "darkroom" else stacks.enter_context(stack(args.baseline.resolve()))
            if d is not s:
                d.redis()
                d.env["DARKROOM_SIMULATOR_URL"] = simulator
            d.worker(concurrency=16)
            url = f"{d.web()}/v1/images/generations"
            subjects[name] = caller(client, url, keys[name], MODEL, moments[name])
            procs |= {f"{name} worker": d.worker_proc, f"{name} web": d.web_proc}
        litellm = None if args.no_litellm else start_litellm(s, simulator)
        if litellm:
            subjects["direct (reseller path)"] = caller(
                client, f"{simulator}/v1/images/generations", SIM_KEY, RESELLER_MODEL
            )
            subjects["litellm"] = caller(
                client, f"{litellm}/v1/images/generations", LITELLM_KEY, RESELLER_MODEL
            )
            procs["litellm"] = next(p for p in s.procs if "litellm" in str(p.args))
        for run in subjects.values():  # warm up: connections, imports, plans
            for _ in range(3):
                run()
        # CPU per image of each process that handles one: the worker does the job's
        # work (download, check, sign, store, thumbnail, settle), LiteLLM relays.
        idle = _idle_cpu(procs)
        if args.profile:
            profile(s, procs, Path(args.profile))
        before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        started = time.perf_counter()
        found = interleave(args.rounds, subjects)
        cpu = {n: (cpu_seconds(p.pid) - before[n]) * 1000 / args.rounds for n, p in procs.items()}
        round_s = (time.perf_counter() - started) / args.rounds
    report(found, args.rounds)
    cpu_report(cpu, idle, round_s)
    for name, key in keys.items():
        breakdown(key, moments[name], name)


def profile(s: Stack, procs: dict[str, Any], out: Path) -> None:
    for name, proc in procs.items():
        if "litellm" not in name:
            # Every sample on a CPU (not only the GIL's): image work releases it.
            s.profile(proc, name.replace(" ", "-"), 60, out, gil=False, rate=500)


def cpu_report(cpu: dict[str, float], idle: dict[str, float], round_s: float) -> None:
    print(f"CPU per image ({round_s * 1000:.0f} ms per round; idle CPU in it subtracted):")
    net = {n: ms - idle[n] * round_s for n, ms in cpu.items()}
    for n, ms in cpu.items():
        print(f"  {n:20} {ms:6.1f} ms (idle {idle[n]:4.1f} ms/s, net {net[n]:6.1f} ms)")
    for ours in ("darkroom worker", "baseline worker"):
        if ours in cpu and "litellm" in cpu:
            print(f"  {ours} / litellm: {cpu[ours] / cpu['litellm']:.2f}x", end="")
            print(f" (net of idle {net[ours] / net['litellm']:.2f}x; goal <= 2)")


def _idle_cpu(procs: dict[str, Any], seconds: float = 5.0) -> dict[str, float]:
    """CPU ms per second each process spends with no request in flight."""
    before = {name: run_ns(p.pid) for name, p in procs.items()}
    time.sleep(seconds)
    return {n: (run_ns(p.pid) - before[n]) / 1e6 / seconds for n, p in procs.items()}


def report(found: dict[str, list[float]], rounds: int) -> None:
    print(f"\nP1 sequential 1024x1024 sync generations, {rounds} rounds, upstream latency 0")
    for name, values in found.items():
        print(summary(name, values))
    added = {
        "darkroom": _added(found["darkroom"], found["direct (ModelVerse path)"]),
    }
    if "litellm" in found:
        added["litellm"] = _added(found["litellm"], found["direct (reseller path)"])
    if "baseline" in found:
        added["baseline"] = _added(found["baseline"], found["direct (ModelVerse path)"])
    for name, (p50, p99) in added.items():
        print(f"{name:28} added p50 {p50:+7.1f} ms | added p99 {p99:+7.1f} ms")
    if "litellm" in added:
        ours, peer = added["darkroom"], added["litellm"]
        print(f"darkroom / litellm added: p50 {_ratio(ours[0], peer[0])} (goal <= 1), ", end="")
        print(f"p99 {_ratio(ours[1], peer[1])} (goal <= 4)")
    base = statistics.median(found["direct (ModelVerse path)"])
    print(f"darkroom / direct median ratio {statistics.median(found['darkroom']) / base:.2f}x")


def breakdown(key: str, moments: list[tuple[float, float]], label: str = "darkroom") -> None:
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
        f"{label} p50 by step: "
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
