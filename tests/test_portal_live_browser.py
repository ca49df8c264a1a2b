"""The live stream in real Chromium against the real ASGI server (uvicorn) on Redis: a
job card and a gallery tile turn into their images with no status request at all, and
open streams add no thread each."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import Client

from generations.services import generation_create, generation_succeed
from tests.harness import stop
from tests.images import png_bytes
from tests.live import _env, database_url
from tests.live_api import ApiServer, start_api

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

DEV = "black-forest-labs/flux.1-dev"
STATUS_PATHS = ("/jobs/", "/history/tiles/")


@pytest.fixture
def web(settings: Any, tmp_path: Path, redis_url: str) -> Iterator[ApiServer]:
    channel = f"darkroom-test-live-{uuid.uuid4().hex[:8]}"
    settings.CELERY_BROKER_URL = redis_url  # this process publishes what it finishes
    settings.DARKROOM_LIVE_CHANNEL = channel
    env = {
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DARKROOM_LIVE_CHANNEL": channel,
        "DARKROOM_LIVE_RECHECK": "600",  # only a published message can update a card
        "DARKROOM_API_THREADS": "4",
        "DEBUG": "true",  # static files served by the app, as in the demo
    }
    server = start_api(_env(env), tmp_path / "web.log")
    try:
        yield server
    finally:
        stop(server.proc)


def _sign_in(page: Any, user: Any, base: str) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])


def _submit(user: Any, prompt: str) -> Any:
    return generation_create(
        user=user, model=DEV, prompt=prompt, params={"size": "256x256"}, source="portal"
    )


def test_cards_and_tiles_update_by_push_with_no_status_request(
    browser_page: Any, web: ApiServer, user: Any, enqueued: list[str]
) -> None:
    from playwright.sync_api import expect

    base = f"http://127.0.0.1:{web.port}"
    page = browser_page
    _sign_in(page, user, base)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    card_job = _submit(user, "a lighthouse")
    page.goto(base + "/")
    expect(page.locator("body[data-live=up]")).to_have_count(1)
    generation_succeed(generation=card_job, images=[png_bytes(256, 256)], channel="modelverse")
    card = page.locator(f"#job-{card_job.pk}[data-status=succeeded] .job-thumb img")
    expect(card).to_have_js_property("complete", True)
    assert page.evaluate("el => el.naturalWidth", card.element_handle()) > 0
    expect(page.locator("#quota strong")).to_have_text("9")  # the counter, pushed too

    tile_job = _submit(user, "a harbour")
    page.goto(base + "/history/")
    expect(page.locator("body[data-live=up]")).to_have_count(1)
    expect(page.locator(f"#gen-{tile_job.pk}[data-pending]")).to_have_count(1)
    generation_succeed(generation=tile_job, images=[png_bytes(320, 180)], channel="modelverse")
    expect(page.locator(f"#gen-{tile_job.pk} .tile-link img")).to_have_count(1)

    assert [u for u in requests if any(p in u for p in STATUS_PATHS)] == []


def test_open_streams_hold_no_thread_each(web: ApiServer, user: Any) -> None:
    client = Client()
    client.force_login(user)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    url = f"http://127.0.0.1:{web.port}/live/"

    async def hold(count: int) -> tuple[int, int]:
        limits = httpx.Limits(max_connections=count + 5)
        http = httpx.AsyncClient(cookies=cookies, timeout=30, limits=limits)
        async with http, http.stream("GET", url) as first:  # the first starts the shared pools
            await anext(first.aiter_raw())
            before = web.threads()
            streams = [http.stream("GET", url) for _ in range(count)]
            opened = [await s.__aenter__() for s in streams]
            await asyncio.gather(*(anext(r.aiter_raw()) for r in opened))
            after = web.threads()
            for s in streams:
                await s.__aexit__(None, None, None)
            return before, after

    before, after = asyncio.run(hold(40))

    assert after - before <= 4  # at most the shared database pool's threads, not 40
