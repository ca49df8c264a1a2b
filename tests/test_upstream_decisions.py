"""An upstream's "no" is final and stays on its channel; what is stored is what is charged.

Real adapters against the in-process simulator, driven step by step (tests/upstreams.py).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from accounts.quota import quota_set_limit, quota_status
from generations.models import Generation
from simulator import bfl as sim_bfl
from simulator import modelverse as sim_modelverse
from simulator.server import SimulatorServer
from tests.test_net_guard import LocalServer
from tests.upstreams import create, run_to_end, sent, sim_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
DEV = "black-forest-labs/flux.1-dev"  # ModelVerse first, then the reseller, BFL, Replicate
PRO11 = "black-forest-labs/flux-1.1-pro"  # BFL's format


@pytest.mark.parametrize(
    ("fault", "code"),
    [("moderation", "moderation_blocked"), ("bad_request", "invalid_request")],
)
def test_a_refusal_is_not_tried_on_another_channel(
    sim: SimulatorServer, user: Any, enqueued: list, fault: str, code: str
) -> None:
    sim.add_fault(fault, times=1, path="/v1/images/generations", model=DEV)
    generation = run_to_end(create(user, DEV, size="512x512"))
    assert (generation.status, generation.error_code) == ("failed", code)
    assert [(a["channel"], a["ok"]) for a in generation.attempts] == [("modelverse", False)]
    assert len(sent(sim, "/v1/images/generations")) == 1
    assert not sent(sim, "/flux/v1/")
    assert not sent(sim, "/replicate/v1/")
    quota = quota_status(user=user, model=DEV)
    assert (quota.used, quota.reserved) == (0, 0)


def test_a_job_given_fewer_images_than_asked_is_charged_for_those_stored(
    sim: SimulatorServer, user: Any, enqueued: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    validate = sim_modelverse._validate
    # The upstream makes one image whatever n says.
    monkeypatch.setattr(
        sim_modelverse, "_validate", lambda req: dataclasses.replace(validate(req), n=1)
    )
    generation = run_to_end(create(user, DEV, n=3, size="512x512"))
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.images.count() == 1
    quota = quota_status(user=user, model=DEV)
    assert (quota.used, quota.reserved) == (1, 0)


@pytest.fixture
def elsewhere() -> Iterator[LocalServer]:
    """Another host (`localhost`, not the channel's 127.0.0.1) that records what it is sent."""
    server = LocalServer()
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_bfl_polling_url_on_another_host_is_never_sent_the_key(
    user: Any,
    enqueued: list,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    elsewhere: LocalServer,
) -> None:
    create_task = sim_bfl.BFLFormat.create

    def answer_with_a_foreign_polling_url(self: Any, req: Any) -> Any:
        req.base_url = elsewhere.url("", host="localhost")
        return create_task(self, req)

    monkeypatch.setattr(sim_bfl.BFLFormat, "create", answer_with_a_foreign_polling_url)
    quota_set_limit(user=user, model=PRO11, limit=1)
    with SimulatorServer(host="127.0.0.1", port=0, job_seconds=0) as server:
        settings.DARKROOM_SIMULATOR_URL = server.url
        generation = run_to_end(create(user, PRO11), channel="bfl")
        polls = sent(server, "/flux/v1/get_result")
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    assert elsewhere.seen == []
    assert polls
    assert all(p["headers"]["authorization"] == "Bearer sim-key" for p in polls)
