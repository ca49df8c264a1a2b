"""P5: the portal's live status, by push (the /live/ stream) against polling.

    .venv/bin/python -m bench.p5_live [--jobs 30] [--streams 1000] [--skip-streams]

Brings up Redis and two web processes on the bench database: one with the stream (the
default) and one with DARKROOM_PORTAL_LIVE=false (today's polling: cards every 1 s,
tiles every 2 s). No worker: this process finishes each job itself through the same
service the worker calls (generation_succeed: store, thumbnail, then announce), so the
figures are the portal's path alone. Both web processes run bench/p5_trace.py (the app,
its live hub timed).

1. Finish -> shown, in Chromium: for each of --jobs jobs, interleaved push / polling, a
   card waits a random 0.2-1.2 s, the job finishes, and the page records (Date.now())
   the moment the card's <img> has loaded. Figure: shown - finished_at, p50 / p95; then
   each step's p50 (STEPS: this process's marks, the web's, the page's, all wall-clock
   on the one machine), and result -> shown: from the image in hand, before finished_at.
2. Status requests (GET /jobs/..., /history/tiles/) sent while one job runs 10 s, on
   the generate page and the gallery, both modes.
3. --streams open streams for one person on the push web process: threads and memory
   added, CPU used while idle for 10 s, and the time from one change of that person
   to the last stream receiving it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stack import Stack, cpu_seconds, quantile, rss_mb, setup_django, stack
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.images import png_bytes

MODEL = "black-forest-labs/flux.1-dev"
STATUS_PATHS = ("/jobs/", "/history/tiles/")
# Records, by job id, when each finished card's event arrived (with the web's trace,
# bench/p5_trace.py), when the card was in the page, and when its <img> had loaded
# (with the image request's own timings): all in ms since the epoch.
SHOWN_SCRIPT = """
window.__shown = {}; window.__trace = {};
const NativeSource = window.EventSource;
if (NativeSource) {
  window.EventSource = class extends NativeSource {
    constructor(url, init) {
      super(url, init);
      this.addEventListener('job', (event) => {
        const data = JSON.parse(event.data);
        if (data.status === 'succeeded' && !window.__trace[data.id])
          window.__trace[data.id] = Object.assign({ got: Date.now() }, data.trace || {});
      });
    }
  };
}
const at = (t) => (t ? performance.timeOrigin + t : null);
new MutationObserver(() => {
  document.querySelectorAll('.job[data-status=succeeded] img').forEach((img) => {
    const id = img.closest('.job').id.slice(4);
    const trace = window.__trace[id] = window.__trace[id] || {};
    if (!trace.dom) trace.dom = Date.now();
    const mark = () => {
      if (window.__shown[id]) return;
      window.__shown[id] = Date.now();
      const entry = performance.getEntriesByName(img.currentSrc).pop();
      if (entry) entry.serverTiming.forEach((t) => { trace[t.name] = parseFloat(t.description); });
      if (entry) Object.assign(trace, {
        fetch: at(entry.fetchStart), request: at(entry.requestStart),
        first: at(entry.responseStart), loaded: at(entry.responseEnd),
      });
    };
    if (img.complete && img.naturalWidth) mark(); else img.addEventListener('load', mark);
  });
}).observe(document, { subtree: true, childList: true, attributes: true });
"""
# The steps from finish to shown, as (name, from mark, to mark); the marks are the
# bench's (result: generation_succeed called with the image, finished: the job's
# finished_at, thumb0/1: add_thumbnails, pub0/1: the announce), the web's
# (bench/p5_trace.py) and the page's (SHOWN_SCRIPT).
STEPS = (
    ("result -> finished_at (store)", "result", "finished"),
    ("commit + finish receivers", "finished", "thumb0"),
    ("thumbnail (what is left) saved", "thumb0", "thumb1"),
    ("announce (publish)", "thumb1", "pub1"),
    ("publish -> hub heard", "pub0", "heard"),
    ("heard -> read starts", "heard", "read0"),
    ("read + render", "read0", "read1"),
    ("rendered -> written", "read1", "sent"),
    ("written -> page got it", "sent", "got"),
    ("got -> card in page", "got", "dom"),
    ("card -> image requested", "dom", "fetch"),
    ("image fetch -> request sent", "fetch", "request"),
    ("image request -> app has it", "request", "app0"),
    ("app answers (headers)", "app0", "app1"),
    ("headers -> first byte", "app1", "first"),
    ("image first -> last byte", "first", "loaded"),
    ("image loaded -> shown", "loaded", "shown"),
    ("finish -> shown (total)", "finished", "shown"),
    ("result -> shown", "result", "shown"),
)

# Connections per httpx client. httpcore's pool scans all its connections for every
# request it places or frees (quadratic): one client holding 1,000 connections spent
# 93 % of its CPU there. Lanes of 50 keep that scan short.
LANE = 50


def person() -> Any:
    from accounts.models import User
    from accounts.quota import quota_set_limit

    user, _ = User.objects.get_or_create(username="bench-p5")
    quota_set_limit(user=user, model=MODEL, limit=10_000_000)
    return user


def session_cookie(user: Any) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


def submit(user: Any, prompt: str) -> Any:
    from generations.services import generation_create

    return generation_create(
        user=user, model=MODEL, prompt=prompt, params={"size": "512x512"}, source="portal"
    )


# The bench's own marks while it finishes a job (ms since the epoch), see trace_finish.
MARKS: dict[str, float] = {}


def _marked(fn: Any, before: str, after: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        MARKS[before] = time.time() * 1000
        try:
            return fn(*args, **kwargs)
        finally:
            MARKS[after] = time.time() * 1000

    return call


def trace_finish() -> None:
    """Mark when generation_succeed makes the thumbnails and announces the change."""
    from generations import services

    services.add_thumbnails = _marked(services.add_thumbnails, "thumb0", "thumb1")
    services.announce = _marked(services.announce, "pub0", "pub1")


def finish(job: Any) -> dict[str, float]:
    """Finish the job as the worker would; its finished_at and the marks, in ms since the epoch."""
    from generations.models import Generation
    from generations.services import generation_succeed

    image = png_bytes(512, 512)
    MARKS.clear()
    MARKS["result"] = time.time() * 1000  # the worker has the upstream's image in hand
    generation_succeed(generation=job, images=[image], channel="modelverse")
    finished = Generation.objects.values_list("finished_at", flat=True).get(pk=job.pk)
    return {"finished": finished.timestamp() * 1000, **MARKS}


def bring_up(s: Stack) -> tuple[dict[str, str], Any]:
    s.redis()
    # Before Django starts here: this process publishes to that Redis and stores files
    # where the web processes serve them.
    os.environ["CELERY_BROKER_URL"] = s.env["CELERY_BROKER_URL"]
    s.env["MEDIA_ROOT"] = os.environ["MEDIA_ROOT"] = str(s.dir / "media")
    setup_django()
    trace_finish()
    s.env["DEBUG"] = "true"  # static files from the app, as in the demo
    push = s.web(app="bench.p5_trace:application")
    push_proc = s.web_proc
    s.env["DARKROOM_PORTAL_LIVE"] = "false"
    poll = s.web(app="bench.p5_trace:application")
    s.env.pop("DARKROOM_PORTAL_LIVE")
    return {"push": push, "poll": poll}, push_proc


def open_page(browser: Any, base: str, cookie: str) -> Any:
    # bypass_csp: only for the measuring script (wait_for_function evaluates a string)
    context = browser.new_context(viewport={"width": 1360, "height": 900}, bypass_csp=True)
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
    context.add_init_script(SHOWN_SCRIPT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def shown_after_finish(page: Any, base: str, user: Any, mode: str, i: int) -> dict[str, float]:
    """The marks of one job, from its finish to its image shown in the page."""
    job = submit(user, f"p5 {mode} {i}")
    page.goto(base + "/")
    page.wait_for_selector(f"#job-{job.pk}")
    if mode == "push":
        page.wait_for_selector("body[data-live=up]")
    time.sleep(random.uniform(0.2, 1.2))
    marks = finish(job)
    page.wait_for_function(f"window.__shown['{job.pk}']")
    seen = page.evaluate(f"[window.__shown['{job.pk}'], window.__trace['{job.pk}']]")
    page_marks = {k: float(v) for k, v in (seen[1] or {}).items() if v is not None}
    return {**marks, **page_marks, "shown": float(seen[0])}


def step_figures(runs: list[dict[str, float]]) -> dict[str, list[float]]:
    """Each step's durations over the runs that have both its marks."""
    steps: dict[str, list[float]] = {}
    for name, start, end in STEPS:
        values = [run[end] - run[start] for run in runs if start in run and end in run]
        if values:
            steps[name] = values
    return steps


def status_requests(page: Any, base: str, user: Any, path: str, seconds: float) -> int:
    from generations.models import Generation
    from generations.services import generation_fail

    for pk in Generation.objects.filter(user=user, status__in=["queued", "running"]).values_list(
        "pk", flat=True
    ):
        generation_fail(generation_id=pk, code="bench", message="left from an earlier run")
    submit(user, "p5 running")  # the one job running on the page
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url))
    page.goto(base + path)
    page.wait_for_timeout(seconds * 1000)  # not time.sleep: events arrive while it waits
    return len([u for u in sent if any(p in u for p in STATUS_PATHS)])


def browser_figures(urls: dict[str, str], jobs: int) -> None:
    from playwright.sync_api import sync_playwright

    user = person()
    cookie = session_cookie(user)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        pages = {mode: open_page(browser, base, cookie) for mode, base in urls.items()}
        for mode, base in urls.items():  # warm up: templates, thumbnails, connections
            shown_after_finish(pages[mode], base, user, mode, -1)
        runs: dict[str, list[dict[str, float]]] = {"push": [], "poll": []}
        for i in range(jobs):
            for mode, base in urls.items():
                runs[mode].append(shown_after_finish(pages[mode], base, user, mode, i))
        print(f"\nP5 finish -> image shown in Chromium, {jobs} jobs each, interleaved")
        delays = {mode: [r["shown"] - r["finished"] for r in rs] for mode, rs in runs.items()}
        for mode, values in delays.items():
            print(
                f"  {mode:5} p50 {statistics.median(values):7.0f} ms | p95 "
                f"{quantile(values, 0.95):7.0f} ms | min {min(values):5.0f} | "
                f"max {max(values):5.0f}"
            )
        ratio = statistics.median(delays["push"]) / statistics.median(delays["poll"])
        print(f"  push / poll p50 ratio {ratio:.2f}")
        print("\nP5 where the time goes, each step's p50 (min, p95) in ms")
        print(f"  {'step':30} {'push':>22} {'poll':>22}")
        figures = {mode: step_figures(rs) for mode, rs in runs.items()}
        for name, _, _ in STEPS:
            cells = []
            for mode in runs:
                v = figures[mode].get(name)
                cells.append(
                    f"{statistics.median(v):7.1f} ({min(v):6.1f}, {quantile(v, 0.95):6.1f})"
                    if v
                    else f"{'-':>22}"
                )
            print(f"  {name:30} {cells[0]:>22} {cells[1]:>22}")
        print("\nP5 status requests while one job runs 10 s")
        for mode, base in urls.items():
            for path in ("/", "/history/"):
                page = open_page(browser, base, cookie)
                count = status_requests(page, base, user, path, 10.0)
                page.context.close()
                print(f"  {mode:5} {path:10} {count} requests")
        browser.close()


# --- many streams ----------------------------------------------------------------------


def threads_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


async def hold_streams(base: str, cookie: str, count: int, pid: int, user: Any) -> dict[str, Any]:
    from asgiref.sync import sync_to_async

    from generations.services import generation_fail

    lanes = -(-count // LANE)
    limits = httpx.Limits(max_connections=LANE, max_keepalive_connections=LANE)
    figures: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        pool = [
            await stack.enter_async_context(
                httpx.AsyncClient(cookies={"sessionid": cookie}, timeout=120, limits=limits)
            )
            for _ in range(lanes)
        ]
        first = await stack.enter_async_context(pool[0].stream("GET", f"{base}/live/"))
        await anext(first.aiter_raw())  # the shared pools exist from here on
        figures["threads0"], figures["rss0"] = threads_of(pid), rss_mb(pid)
        streams = []
        for i in range(count):
            response = await stack.enter_async_context(
                pool[i % lanes].stream("GET", f"{base}/live/")
            )
            streams.append(response.aiter_raw())
        await asyncio.gather(*(anext(s) for s in streams))  # every stream is open
        await asyncio.sleep(2)
        figures["threads1"], figures["rss1"] = threads_of(pid), rss_mb(pid)
        cpu0 = cpu_seconds(pid)
        await asyncio.sleep(10)
        figures["idle_cpu"] = (cpu_seconds(pid) - cpu0) / 10
        job = await sync_to_async(submit)(user, "p5 fan-out")
        await asyncio.sleep(1.5)  # its "queued" reached every stream
        ids = str(job.pk)

        async def received(chunks: Any) -> float:
            async for chunk in chunks:
                if ids.encode() in chunk and b'"failed"' in chunk:
                    return time.monotonic()
            return float("nan")

        waiting = [asyncio.ensure_future(received(s)) for s in streams]
        started = time.monotonic()
        await sync_to_async(generation_fail)(generation_id=job.pk, code="x", message="fan-out")
        ends = await asyncio.gather(*waiting)
        figures["fanout_last"] = (max(ends) - started) * 1000
        figures["fanout_p50"] = (statistics.median(ends) - started) * 1000
    return figures


def stream_figures(pid: int, base: str, count: int) -> None:
    user = person()
    figures = asyncio.run(hold_streams(base, session_cookie(user), count, pid, user))
    threads = figures["threads1"] - figures["threads0"]
    print(f"\nP5 {count} open streams of one person on one web process")
    print(
        f"  threads added {threads} ({threads / count:.3f} per stream) | memory added "
        f"{figures['rss1'] - figures['rss0']:.0f} MB | idle CPU {figures['idle_cpu'] * 100:.1f} %"
        f" of a core | one change to every stream: median {figures['fanout_p50']:.0f} ms, "
        f"last {figures['fanout_last']:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-streams", action="store_true")
    args = parser.parse_args()
    # Playwright's sync API runs an event loop in this thread; our ORM calls stay sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with stack() as s:
        urls, push_proc = bring_up(s)
        if not args.skip_browser:
            browser_figures(urls, args.jobs)
        if not args.skip_streams:
            stream_figures(push_proc.pid, urls["push"], args.streams)
    print(f"\nload average {os.getloadavg()[0]:.1f} (1 min) at the end")


if __name__ == "__main__":
    main()
