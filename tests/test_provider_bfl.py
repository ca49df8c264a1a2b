"""Black Forest Labs' native format: translation, results fetched before their link
dies, moderation, lost tasks, errors, x-key auth and webhooks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from accounts.quota import quota_set_limit, quota_status
from generations.callbacks.links import callback_secret
from generations.dispatch import generation_run
from generations.models import Generation
from generations.services import generation_fail
from simulator.server import SimulatorServer
from tests.harness import wait_until
from tests.images import png_bytes
from tests.upstreams import create, force_options, matches_fixture, run_to_end, sent, sim_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
CH = "bfl"
DEV = "black-forest-labs/flux.1-dev"  # ModelVerse's model, BFL as its third channel
PRO11 = "black-forest-labs/flux-1.1-pro"
ULTRA = "black-forest-labs/flux-1.1-pro-ultra"


@pytest.fixture(autouse=True)
def _quota(user: Any) -> None:
    for model in (PRO11, ULTRA, "black-forest-labs/flux-pro"):
        quota_set_limit(user=user, model=model, limit=20)


CASES = {
    "flux-dev": (DEV, {"size": "700x500", "steps": 20, "guidance_scale": 8.0, "seed": 7}, True),
    "flux-pro-1.1": (
        PRO11,
        {"size": "1536x1024", "seed": 7, "safety_tolerance": 5, "prompt_upsampling": True},
        False,
    ),
    "flux-pro-1.1-ultra": (
        ULTRA,
        {"aspect_ratio": "21:9", "strength": 0.4, "raw": True, "seed": 7},
        True,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_it_translates_our_parameters(
    sim: SimulatorServer, user: Any, enqueued: list, case: str
) -> None:
    model, params, with_image = CASES[case]
    images = {"image": [png_bytes(64, 64)]} if with_image else None
    generation = run_to_end(create(user, model, images=images, **params), channel=CH)
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    created = sent(sim, "/flux/v1/flux")[0]
    assert created["path"] == f"/flux/v1/{case}"
    assert matches_fixture("bfl", case, created["json"])
    assert created["headers"]["authorization"].startswith("Bearer ")


def test_a_result_is_downloaded_before_its_link_expires(
    user: Any, enqueued: list, settings: Any
) -> None:
    with SimulatorServer(port=0, job_seconds=0.5, link_ttl=1.5) as server:
        settings.DARKROOM_SIMULATOR_URL = server.url
        generation = run_to_end(create(user, DEV), channel=CH, max_wait=0.2)
        assert generation.status == Generation.Status.SUCCEEDED
        downloads = sent(server, "/files/")
        assert [d["status"] for d in downloads] == [200]
        time.sleep(1.6)  # past the link's life: the same link now refuses
        assert httpx.get(server.url + downloads[0]["path"]).status_code == 403
    assert len(sent(server, "/flux/v1/flux-dev")) == 1


def test_a_link_seen_too_late_makes_a_new_task_not_a_broken_image(
    user: Any, enqueued: list, settings: Any
) -> None:
    with SimulatorServer(port=0, job_seconds=0, link_ttl=0.5) as server:
        settings.DARKROOM_SIMULATOR_URL = server.url
        generation = create(user, DEV)
        generation_run(generation_id=generation.pk, channel_name=CH)  # submitted
        time.sleep(0.7)  # the task was ready long ago: its link is already dead
        generation = run_to_end(generation, channel=CH)
        assert generation.status == Generation.Status.SUCCEEDED
        assert [d["status"] for d in sent(server, "/files/")] == [403, 200]
        assert len(sent(server, "/flux/v1/flux-dev")) == 2


@pytest.mark.parametrize(
    ("code", "status"), [("", "Content Moderated"), ("request", "Request Moderated")]
)
def test_a_moderated_task_fails_clearly_and_refunds_once(
    sim: SimulatorServer, user: Any, enqueued: list, code: str, status: str
) -> None:
    sim.add_fault("moderation", path="/flux/", **({"code": code} if code else {}))
    generation = run_to_end(create(user, PRO11), channel=CH)
    assert (generation.status, generation.error_code) == ("failed", "moderation_blocked")
    assert status in generation.error_message
    assert generation_fail(generation_id=generation.pk, code="x", message="again") is False
    assert generation_run(generation_id=generation.pk).delay is None
    quota = quota_status(user=user, model=PRO11)
    assert (quota.used, quota.reserved, quota.left) == (0, 0, 20)
    assert len(sent(sim, "/flux/v1/flux-pro-1.1")) == 1


def test_a_task_not_found_fails_and_is_not_retried(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("task_not_found", path="/flux/v1/get_result")
    generation = run_to_end(create(user, PRO11), channel=CH)
    assert (generation.status, generation.error_code) == ("failed", "upstream_not_found")
    assert len(sent(sim, "/flux/v1/flux-pro-1.1")) == 1


def test_a_task_in_error_is_a_failed_attempt_never_made_again(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("task_error", path="/flux/v1/flux-pro-1.1")
    generation = run_to_end(create(user, PRO11), channel=CH)
    assert (generation.status, generation.error_code) == ("failed", "upstream_failed")
    assert len(sent(sim, "/flux/v1/flux-pro-1.1")) == 1  # BFL may have billed it: once
    assert [(a["phase"], a["ok"]) for a in generation.attempts] == [
        ("submit", True),
        ("poll", False),
    ]
    quota = quota_status(user=user, model=PRO11)
    assert (quota.used, quota.reserved) == (0, 0)


def test_bfls_own_host_gets_the_key_as_x_key(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    force_options(PRO11, CH, auth="x-key")
    assert run_to_end(create(user, PRO11), channel=CH).status == Generation.Status.SUCCEEDED
    created = sent(sim, "/flux/v1/flux-pro-1.1")[0]
    assert created["headers"]["x-key"] == "sim-key"
    assert "authorization" not in created["headers"]


def test_a_webhook_with_the_right_secret_polls_at_once(
    sim: SimulatorServer, user: Any, enqueued: list, client: Any, settings: Any
) -> None:
    settings.DARKROOM_PUBLIC_URL = "http://testserver"
    force_options(PRO11, CH, webhook=True)
    generation = create(user, PRO11)
    generation_run(generation_id=generation.pk, channel_name=CH)
    generation.refresh_from_db()
    body = sent(sim, "/flux/v1/flux-pro-1.1")[0]["json"]
    assert body["webhook_url"] == f"http://testserver/providers/webhooks/bfl/{generation.pk}/"
    assert body["webhook_secret"] == callback_secret(str(generation.pk))
    url = f"/providers/webhooks/bfl/{generation.pk}/"
    wrong = client.post(
        url,
        {"id": generation.upstream_id, "status": "Ready", "webhook_secret": "guess"},
        content_type="application/json",
    )
    assert wrong.status_code == 403
    assert enqueued == []
    right = client.post(
        url,
        {"id": generation.upstream_id, "status": "Ready", "webhook_secret": body["webhook_secret"]},
        content_type="application/json",
    )
    assert right.json() == {"queued": True}
    assert enqueued == [str(generation.pk)]


class _Catcher:
    """A loopback HTTP listener that keeps what is POSTed to it."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(
                    {"json": json.loads(body), "secret": self.headers["X-Webhook-Secret"]}
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/hook"


@pytest.fixture
def catcher() -> Iterator[_Catcher]:
    c = _Catcher()
    c.thread.start()
    yield c
    c.httpd.shutdown()


def test_the_simulator_delivers_the_webhook_with_its_secret(catcher: _Catcher) -> None:
    with SimulatorServer(port=0, job_seconds=0.2, keys="k") as server:
        answer = httpx.post(
            f"{server.url}/flux/v1/flux-pro-1.1",
            headers={"x-key": "k"},
            json={"prompt": "a kite", "webhook_url": catcher.url, "webhook_secret": "s3cret"},
        )
        wait_until(lambda: catcher.received, within=5, what="a webhook delivered", every=0.05)
    [delivery] = catcher.received
    assert delivery["json"]["id"] == answer.json()["id"]
    assert delivery["json"]["status"] == "Ready"
    assert delivery["json"]["result"]["sample"]
    assert delivery["json"]["webhook_secret"] == delivery["secret"] == "s3cret"
