"""Webhook delivery goes through the one SSRF guard, even when the URL passed it at submission.

A name that resolved to a public address when the job was accepted can point at a
private one by the time the job finishes; the row is made directly here to stand for that.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from generations.api.tasks import deliver_webhook
from generations.models import Generation, Webhook
from tests.portal_helpers import make_generation
from tests.test_net_guard import LocalServer, send_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    server = LocalServer()
    server.routes["/hook"] = send_body(b"")
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def hook(user: Any, receiver: LocalServer) -> Webhook:
    generation = make_generation(user, source=Generation.Source.API)
    return Webhook.objects.create(
        generation=generation, url=receiver.url("/hook"), base_url="http://testserver"
    )


def test_a_notice_to_a_private_address_is_refused_and_never_sent(
    hook: Webhook, receiver: LocalServer
) -> None:
    deliver_webhook.apply(args=[str(hook.generation_id)])
    hook.refresh_from_db()
    assert receiver.seen == []
    assert hook.delivered_at is None
    assert "not allowed" in hook.last_error
    assert "non-public address" in hook.last_error


def test_the_same_notice_arrives_once_the_operator_allows_the_host(
    hook: Webhook, receiver: LocalServer, settings: Any
) -> None:
    settings.DARKROOM_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    deliver_webhook.apply(args=[str(hook.generation_id)])
    hook.refresh_from_db()
    assert [path for path, _ in receiver.seen] == ["/hook"]
    assert hook.delivered_at is not None
    assert hook.last_error == ""
