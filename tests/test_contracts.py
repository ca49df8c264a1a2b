"""Contract tests: each adapter reads the upstream answers its documents show.

Every `tests/fixtures/<format>/answer_*.json` holds one exchange as the upstreams'
documents show it (`tests/fixtures/upstream_docs/seeds/`, restated in English in
`tests/fixtures/upstream_docs/UPSTREAMS.md`): what we ask (method and path,
and the documented request fields), what the upstream answers (status, headers, body,
or no answer at all), and what the adapter must make of it: a finished result, a job
still pending with the state to poll with, or a `ProviderError` with its code and
whether it is retryable. The answers are replayed through the one HTTP seam,
`providers.http.send`, whose client gets an httpx mock transport: everything from
`send` up is the production code.

These fixtures are written by hand from the documents, never recorded from a run, so
RECORD_FIXTURES has no effect here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers import http
from providers.base import (
    ChannelConfig,
    Completed,
    Outcome,
    Pending,
    ProviderError,
    ProviderRequest,
)
from providers.registry import PROVIDERS, provider_for

FIXTURES = Path(__file__).with_name("fixtures")
CASES = sorted(FIXTURES.glob("*/answer_*.json"))
BASE = "https://upstream.example"
KEY = "sk-contract"
ASYNC_FORMATS = {"replicate", "bfl"}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _replayer(exchanges: list[dict[str, Any]], seen: list[httpx.Request]) -> Any:
    queue = list(exchanges)

    def answer(request: httpx.Request) -> httpx.Response:
        assert queue, f"no recorded answer for {request.method} {request.url}"
        recorded = queue.pop(0)
        seen.append(request)
        asked = (request.method, request.url.raw_path.decode())
        assert asked == (recorded["method"], recorded["path"])
        if "raise" in recorded:
            raise getattr(httpx, recorded["raise"])("replayed", request=request)
        headers = recorded.get("headers", {})
        if "json" in recorded:
            return httpx.Response(recorded["status"], json=recorded["json"], headers=headers)
        return httpx.Response(recorded["status"], text=recorded["text"], headers=headers)

    return answer


def _describe(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, Pending):
        assert outcome.poll_after > 0
        return {"pending": {"upstream_id": outcome.upstream_id, "state": outcome.state}}
    assert isinstance(outcome, Completed)
    for image in outcome.images:
        assert (image.url is None) != (image.data is None)  # one or the other
    return {
        "completed": {
            "urls": [i.url for i in outcome.images if i.url],
            "data_images": sum(1 for i in outcome.images if i.data),
            "upstream_id": outcome.upstream_id,
        }
    }


def _play(case: dict[str, Any], fmt: str) -> Callable[[], Outcome]:
    channel = ChannelConfig(
        "contract", fmt, BASE, KEY, case["upstream_model"], options=case.get("options", {})
    )
    provider = provider_for(channel)
    if case["call"] == "poll":
        return lambda: provider.poll(dict(case["state"]))
    request = ProviderRequest(
        prompt=case["request"]["prompt"], params=dict(case["request"]["params"])
    )
    return lambda: provider.submit(request)


def _check_what_we_sent(case: dict[str, Any], first: httpx.Request) -> None:
    assert first.headers.get("authorization") == f"Bearer {KEY}"
    if "sends" in case:
        assert _subset(case["sends"], json.loads(first.content)), first.content
    for name, value in case.get("sends_parts", {}).items():
        part = f'name="{name}"\r\n\r\n{value}\r\n'.encode()
        assert part in first.content, name


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_adapter_reads_the_documented_answer(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case, fmt = _load(path), path.parent.name
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=httpx.MockTransport(_replayer(case["exchanges"], seen)))
    monkeypatch.setattr(http, "_client", lambda: client)
    call, expect = _play(case, fmt), case["expect"]
    if "error" in expect:
        with pytest.raises(ProviderError) as info:
            call()
        assert {k: getattr(info.value, k) for k in expect["error"]} == expect["error"]
    else:
        assert _describe(call()) == expect
    assert len(seen) == len(case["exchanges"])  # every recorded answer was asked for
    _check_what_we_sent(case, seen[0])


def test_every_format_in_the_registry_has_its_answers() -> None:
    by_format: dict[str, list[dict[str, Any]]] = {}
    for path in CASES:
        by_format.setdefault(path.parent.name, []).append(_load(path))
    assert set(by_format) == set(PROVIDERS)
    for fmt, cases in by_format.items():
        expects = [c["expect"] for c in cases]
        assert any("completed" in e for e in expects), fmt
        assert any(not e["error"]["retryable"] for e in expects if "error" in e), fmt
        assert any(e["error"]["retryable"] for e in expects if "error" in e), fmt
        if fmt in ASYNC_FORMATS:
            polls = [c for c in cases if c["call"] == "poll"]
            assert any("pending" in c["expect"] for c in polls), fmt  # still running
            assert any("completed" in c["expect"] for c in polls), fmt  # done
            assert any("pending" in c["expect"] for c in cases if c["call"] == "submit"), fmt


def test_recording_a_request_snapshot_writes_it_and_never_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests import upstreams

    monkeypatch.setenv("RECORD_FIXTURES", "1")
    monkeypatch.setattr(upstreams, "FIXTURES", tmp_path)
    with pytest.raises(pytest.fail.Exception, match="re-run without RECORD_FIXTURES"):
        upstreams.matches_fixture("bfl", "new", {"prompt": "a kite"})
    assert json.loads((tmp_path / "bfl" / "new.json").read_text()) == {"prompt": "a kite"}
    monkeypatch.delenv("RECORD_FIXTURES")
    assert upstreams.matches_fixture("bfl", "new", {"prompt": "a kite"})
    assert not upstreams.matches_fixture("bfl", "new", {"prompt": "a boat"})
