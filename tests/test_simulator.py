"""The upstream simulator speaks ModelVerse faithfully and fails on demand."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from simulator import SimulatorServer
from simulator.transport import SimHandler
from tests.harness import free_port, wait_for_port, wait_until

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
DEV = "black-forest-labs/flux.1-dev"
PRO = "black-forest-labs/flux-kontext-pro"
PRO_T2I = "black-forest-labs/flux-kontext-pro/text-to-image"
MAX_MULTI = "black-forest-labs/flux-kontext-max/multi"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, link_ttl=300, keys=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def generate(client: httpx.Client, sim: SimulatorServer, **body: Any) -> httpx.Response:
    return client.post(f"{sim.url}/v1/images/generations", json=body, headers=AUTH)


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return img.size


def data_url(width: int, height: int, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, fmt)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buf.getvalue()).decode()}"


def b64_png(item: dict[str, Any]) -> bytes:
    prefix = "data:image/png;base64,"
    assert item["b64_json"].startswith(prefix)
    return base64.b64decode(item["b64_json"][len(prefix) :])


def assert_envelope(response: httpx.Response, status: int, code: str, type_: str) -> str:
    assert response.status_code == status
    body = response.json()
    error = body["error"]
    assert body == {
        "error": {"message": error["message"], "type": type_, "param": error["param"], "code": code}
    }
    assert error["message"]
    uuid.UUID(error["param"])  # ModelVerse puts the request id in `param`
    return error["message"]


# --- happy paths -----------------------------------------------------------------------


def test_it_generates_an_image_link(sim: SimulatorServer, client: httpx.Client) -> None:
    response = generate(client, sim, model=DEV, prompt="A cute cat", n=1, size="1024x1024")

    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["created"], int)
    assert body["usage"] == {"input_tokens_details": {}}
    [item] = body["data"]
    assert "b64_json" not in item
    assert item["url"].startswith(f"{sim.url}/files/")
    download = client.get(item["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert png_size(download.content) == (1024, 1024)


def test_it_returns_b64_json_as_a_data_url(sim: SimulatorServer, client: httpx.Client) -> None:
    response = generate(
        client, sim, model=DEV, prompt="A cute cat", size="512x768", response_format="b64_json"
    )

    [item] = response.json()["data"]
    png = b64_png(item)
    assert png_size(png) == (512, 768)
    assert client.get(item["url"]).content == png


def test_it_reproduces_an_image_from_its_seed(sim: SimulatorServer, client: httpx.Client) -> None:
    def image(seed: int) -> bytes:
        response = generate(
            client, sim, model=DEV, prompt="a lighthouse", seed=seed, response_format="b64_json"
        )
        return b64_png(response.json()["data"][0])

    assert image(1234) == image(1234)
    assert image(1234) != image(1235)


def test_it_picks_a_random_seed_when_asked(sim: SimulatorServer, client: httpx.Client) -> None:
    for _ in range(2):
        generate(client, sim, model=DEV, prompt="a lighthouse", seed=-1)
    seeds = [r["notes"]["seed"] for r in sim.requests()]
    assert seeds[0] != seeds[1]
    assert all(0 <= s <= 9_999_999_999 for s in seeds)


def test_it_returns_n_distinct_images(sim: SimulatorServer, client: httpx.Client) -> None:
    response = generate(
        client, sim, model=DEV, prompt="three birds", n=3, seed=7, response_format="b64_json"
    )

    pngs = [b64_png(item) for item in response.json()["data"]]
    assert len(pngs) == 3
    assert len(set(pngs)) == 3
    assert len({item["url"] for item in response.json()["data"]}) == 3


def test_it_ignores_n_for_a_model_that_does_not_take_it(
    sim: SimulatorServer, client: httpx.Client
) -> None:
    response = generate(client, sim, model=PRO, prompt="make it blue", image=data_url(64, 64), n=3)

    assert response.status_code == 200
    assert len(response.json()["data"]) == 1
    assert sim.requests()[0]["notes"]["ignored"] == ["n"]


@pytest.mark.parametrize(
    ("ratio", "size"),
    [(None, (1024, 1024)), ("16:9", (1344, 768)), ("9:21", (672, 1568)), ("3:2", (1248, 832))],
)
def test_it_sizes_text_to_image_by_aspect_ratio(
    sim: SimulatorServer, client: httpx.Client, ratio: str | None, size: tuple[int, int]
) -> None:
    body: dict[str, Any] = {"model": PRO_T2I, "prompt": "a city", "response_format": "b64_json"}
    if ratio:
        body["aspect_ratio"] = ratio

    response = generate(client, sim, **body)

    assert png_size(b64_png(response.json()["data"][0])) == size


def test_it_answers_an_edit_in_its_reference_shape(
    sim: SimulatorServer, client: httpx.Client
) -> None:
    response = generate(
        client,
        sim,
        model=PRO,
        prompt="make it night",
        image=data_url(600, 300),
        response_format="b64_json",
    )

    # 600x300 scaled to about 1 megapixel, both sides snapped to multiples of 32
    assert png_size(b64_png(response.json()["data"][0])) == (1440, 736)
    [reference] = sim.requests()[0]["notes"]["references"]
    assert (reference["kind"], reference["width"], reference["height"]) == ("data_url", 600, 300)


def test_it_records_reference_urls_without_fetching_them(
    sim: SimulatorServer, client: httpx.Client
) -> None:
    urls = ["https://example.invalid/a.png", "https://example.invalid/b.png"]

    response = generate(client, sim, model=MAX_MULTI, prompt="combine", images=urls)

    assert response.status_code == 200
    notes = sim.requests()[0]["notes"]
    assert notes["references"] == [{"kind": "url", "url": u} for u in urls]
    assert notes["size"] == "1024x1024"


# --- validation and auth ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "dall-e-3", "prompt": "x"}, "model_not_found"),
        ({"prompt": "x"}, "missing_required_parameter"),
        ({"model": DEV}, "missing_required_parameter"),
        ({"model": DEV, "prompt": "x", "n": 5}, "invalid_parameter"),
        ({"model": DEV, "prompt": "x", "n": 0}, "invalid_parameter"),
        ({"model": DEV, "prompt": "x", "size": "2048x1024"}, "invalid_parameter"),
        ({"model": DEV, "prompt": "x", "size": "128x512"}, "invalid_parameter"),
        ({"model": DEV, "prompt": "x", "size": "big"}, "invalid_parameter"),
        ({"model": DEV, "prompt": "x", "steps": 0}, "invalid_parameter"),
        ({"model": DEV, "prompt": "x", "guidance_scale": 11}, "invalid_parameter"),
        ({"model": DEV, "prompt": "x", "strength": 1.5}, "invalid_parameter"),
        ({"model": DEV, "prompt": "x", "seed": 10_000_000_000}, "invalid_parameter"),
        ({"model": DEV, "prompt": "x", "response_format": "png"}, "invalid_parameter"),
        ({"model": PRO_T2I, "prompt": "x", "aspect_ratio": "5:4"}, "invalid_parameter"),
        ({"model": PRO, "prompt": "x"}, "missing_required_parameter"),
        ({"model": PRO, "prompt": "x", "image": "ftp://host/a.png"}, "invalid_parameter"),
        (
            {"model": PRO, "prompt": "x", "image": "data:image/png;base64,bm90IGFuIGltYWdl"},
            "invalid_image",
        ),
        ({"model": MAX_MULTI, "prompt": "x"}, "missing_required_parameter"),
        ({"model": MAX_MULTI, "prompt": "x", "images": []}, "invalid_parameter"),
        (
            {"model": MAX_MULTI, "prompt": "x", "images": "https://a.invalid/x.png"},
            "invalid_parameter",
        ),
    ],
)
def test_it_rejects_bad_input_with_the_modelverse_envelope(
    sim: SimulatorServer, client: httpx.Client, body: dict[str, Any], code: str
) -> None:
    response = generate(client, sim, **body)

    assert_envelope(response, 400, code, "invalid_request_error")
    assert response.json()["error"]["param"] == sim.requests()[0]["request_id"]


def test_it_rejects_a_body_that_is_not_json(sim: SimulatorServer, client: httpx.Client) -> None:
    response = client.post(f"{sim.url}/v1/images/generations", content=b"{oops", headers=AUTH)

    assert_envelope(response, 400, "invalid_json", "invalid_request_error")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
def test_it_rejects_a_wrong_or_missing_key(
    sim: SimulatorServer, client: httpx.Client, headers: dict[str, str]
) -> None:
    response = client.post(
        f"{sim.url}/v1/images/generations", json={"model": DEV, "prompt": "x"}, headers=headers
    )

    assert_envelope(response, 401, "invalid_api_key", "authentication_error")


def test_it_accepts_the_key_from_settings_by_default(settings: Any) -> None:
    settings.DARKROOM_SIMULATOR_KEY = "from-settings"
    with SimulatorServer() as server, httpx.Client() as c:
        ok = c.post(
            f"{server.url}/v1/images/generations",
            json={"model": DEV, "prompt": "x", "size": "256x256"},
            headers={"Authorization": "Bearer from-settings"},
        )
    assert ok.status_code == 200


def test_it_answers_404_for_an_unknown_endpoint(sim: SimulatorServer, client: httpx.Client) -> None:
    assert client.get(f"{sim.url}/v1/nothing", headers=AUTH).status_code == 404
    assert client.get(f"{sim.url}/v1/images/generations", headers=AUTH).status_code == 405


# --- result links ----------------------------------------------------------------------


def test_it_expires_result_links(client: httpx.Client) -> None:
    with SimulatorServer(link_ttl=0.5, keys=KEY) as server:
        url = generate(client, server, model=DEV, prompt="x", size="256x256").json()["data"][0][
            "url"
        ]
        assert client.get(url).status_code == 200
        time.sleep(0.7)
        expired = client.get(url)
        missing = client.get(f"{server.url}/files/{'A' * 32}.png")

    assert expired.status_code == 403
    assert b"<Code>AccessDenied</Code>" in expired.content
    assert missing.status_code == 404


def test_it_answers_head_on_a_link(sim: SimulatorServer, client: httpx.Client) -> None:
    url = generate(client, sim, model=DEV, prompt="x", size="256x256").json()["data"][0]["url"]

    head = client.head(url)

    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(client.get(url).content)


def test_it_links_results_to_the_host_the_client_used(client: httpx.Client) -> None:
    with SimulatorServer(keys=KEY, public_url="http://sim.example:9000/") as server:
        url = generate(client, server, model=DEV, prompt="x", size="256x256").json()["data"][0][
            "url"
        ]
    assert url.startswith("http://sim.example:9000/files/")


# --- faults ------------------------------------------------------------------------------


def add_fault(client: httpx.Client, sim: SimulatorServer, **spec: Any) -> httpx.Response:
    response = client.post(f"{sim.url}/_sim/faults", json=spec)
    assert response.status_code == 201, response.text
    return response


def test_it_rate_limits_on_demand(sim: SimulatorServer, client: httpx.Client) -> None:
    add_fault(client, sim, fault="rate_limit", seconds=7)

    limited = generate(client, sim, model=DEV, prompt="x", size="256x256")
    after = generate(client, sim, model=DEV, prompt="x", size="256x256")

    assert_envelope(limited, 429, "rate_limit_exceeded", "rate_limit_error")
    assert limited.headers["retry-after"] == "7"
    assert after.status_code == 200


@pytest.mark.parametrize(("spec", "status"), [({}, 500), ({"status": 503}, 503)])
def test_it_fails_with_a_server_error_on_demand(
    sim: SimulatorServer, client: httpx.Client, spec: dict[str, Any], status: int
) -> None:
    add_fault(client, sim, fault="server_error", **spec)

    response = generate(client, sim, model=DEV, prompt="x")

    assert_envelope(response, status, "internal_error", "server_error")


def test_it_adds_latency_on_demand(sim: SimulatorServer, client: httpx.Client) -> None:
    add_fault(client, sim, fault="latency", seconds=1, times=2)

    with pytest.raises(httpx.ReadTimeout):
        client.post(
            f"{sim.url}/v1/images/generations",
            json={"model": DEV, "prompt": "x"},
            headers=AUTH,
            timeout=0.3,
        )
    slow = generate(client, sim, model=DEV, prompt="x", size="256x256")

    assert slow.status_code == 200
    assert [r["fault"] for r in sim.requests()] == ["latency", "latency"]


@contextmanager
def descriptors_past(low: int) -> Iterator[None]:
    """Every descriptor below `low` taken, so the next sockets get numbers >= `low`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = low + 256
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"the descriptor limit ({hard}) is below {want}")
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    taken: list[int] = []
    try:
        while not taken or taken[-1] < low:
            taken.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_it_adds_latency_on_a_connection_past_descriptor_1024(client: httpx.Client) -> None:
    # A simulator holding a thousand slow calls has sockets numbered past 1024, where
    # select() refuses to look: the wait must still run its course and answer.
    with descriptors_past(1100), SimulatorServer(port=0, keys=KEY) as server:
        server.add_fault("latency", seconds=0.5)
        with httpx.Client(timeout=10) as high:
            slow = generate(high, server, model=DEV, prompt="x", size="256x256")

    assert slow.status_code == 200


def test_it_notices_a_client_leaving_on_a_high_descriptor() -> None:
    ours, theirs = socket.socketpair()
    with descriptors_past(1100):
        high = socket.socket(fileno=os.dup(ours.fileno()))
        ours.close()
        handler = SimHandler.__new__(SimHandler)  # only its connection is needed here
        handler.connection = high
        try:
            assert high.fileno() >= 1024
            assert not handler._client_gone()
            theirs.sendall(b"pipelined")
            assert not handler._client_gone()  # data waiting is not a goodbye
            theirs.close()
            high.recv(64)
            assert handler._client_gone()
        finally:
            high.close()


def test_it_hangs_until_the_client_gives_up(sim: SimulatorServer, client: httpx.Client) -> None:
    add_fault(client, sim, fault="hang")

    with pytest.raises(httpx.ReadTimeout):
        client.post(
            f"{sim.url}/v1/images/generations",
            json={"model": DEV, "prompt": "x"},
            headers=AUTH,
            timeout=0.5,
        )

    assert generate(client, sim, model=DEV, prompt="x", size="256x256").status_code == 200


def test_it_stops_even_while_a_request_hangs() -> None:
    server = SimulatorServer(keys=KEY).start()
    server.add_fault("hang")
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(f"{server.url}/v1/images/generations", json={}, headers=AUTH, timeout=60)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    hung = threading.Thread(target=call, daemon=True)
    hung.start()
    wait_until(server.requests, within=30, what="the request reached the simulator", every=0.05)

    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=15)
    hung.join(timeout=15)

    assert not stopper.is_alive()
    assert not hung.is_alive()  # the client was cut off rather than left waiting 600 s
    assert isinstance(outcome[0], httpx.RemoteProtocolError)


def test_it_drops_the_connection_on_demand(sim: SimulatorServer, client: httpx.Client) -> None:
    add_fault(client, sim, fault="disconnect")

    with pytest.raises(httpx.RemoteProtocolError):
        generate(client, sim, model=DEV, prompt="x")


def test_it_sends_garbage_on_demand(sim: SimulatorServer, client: httpx.Client) -> None:
    add_fault(client, sim, fault="garbage")

    response = generate(client, sim, model=DEV, prompt="x")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html"
    with pytest.raises(ValueError):  # noqa: PT011
        response.json()


def test_it_hands_out_an_already_expired_link_on_demand(
    sim: SimulatorServer, client: httpx.Client
) -> None:
    add_fault(client, sim, fault="expired_link")

    response = generate(client, sim, model=DEV, prompt="x", size="256x256")

    assert response.status_code == 200
    assert client.get(response.json()["data"][0]["url"]).status_code == 403


def test_it_delivers_another_size_than_asked_on_demand(
    sim: SimulatorServer, client: httpx.Client
) -> None:
    add_fault(client, sim, fault="resize", width=640, height=384)
    refused = client.post(f"{sim.url}/_sim/faults", json={"fault": "resize", "width": 0})
    assert refused.status_code == 400

    resized = generate(client, sim, model=DEV, prompt="x", size="256x256")
    asked = generate(client, sim, model=DEV, prompt="x", size="256x256")

    assert png_size(client.get(resized.json()["data"][0]["url"]).content) == (640, 384)
    assert png_size(client.get(asked.json()["data"][0]["url"]).content) == (256, 256)


def test_it_refuses_by_moderation_on_demand(sim: SimulatorServer, client: httpx.Client) -> None:
    add_fault(client, sim, fault="moderation")

    response = generate(client, sim, model=DEV, prompt="x")

    message = assert_envelope(response, 400, "content_policy_violation", "invalid_request_error")
    assert "safety system" in message


def test_it_answers_bad_request_and_unauthorized_on_demand(
    sim: SimulatorServer, client: httpx.Client
) -> None:
    add_fault(client, sim, fault="bad_request", code="invalid_size", message="size is odd")
    add_fault(client, sim, fault="unauthorized")

    bad = generate(client, sim, model=DEV, prompt="x")
    unauthorized = generate(client, sim, model=DEV, prompt="x")

    assert assert_envelope(bad, 400, "invalid_size", "invalid_request_error") == "size is odd"
    assert_envelope(unauthorized, 401, "invalid_api_key", "authentication_error")


def test_it_consumes_a_fault_n_times(sim: SimulatorServer, client: httpx.Client) -> None:
    add_fault(client, sim, fault="server_error", times=2)

    statuses = [
        generate(client, sim, model=DEV, prompt="x", size="256x256").status_code for _ in range(3)
    ]

    assert statuses == [500, 500, 200]


def test_it_matches_faults_by_model_and_path(sim: SimulatorServer, client: httpx.Client) -> None:
    add_fault(client, sim, fault="server_error", model=PRO_T2I)
    add_fault(client, sim, fault="server_error", path="/files/")

    dev = generate(client, sim, model=DEV, prompt="x", size="256x256")
    download = client.get(dev.json()["data"][0]["url"])
    t2i = generate(client, sim, model=PRO_T2I, prompt="x")

    assert dev.status_code == 200
    assert download.status_code == 500
    assert t2i.status_code == 500


def test_it_lists_and_clears_faults(sim: SimulatorServer, client: httpx.Client) -> None:
    add_fault(client, sim, fault="rate_limit", times=-1, seconds=2)

    listed = client.get(f"{sim.url}/_sim/faults").json()["faults"]
    client.delete(f"{sim.url}/_sim/faults")

    assert [(f["fault"], f["times"], f["seconds"]) for f in listed] == [("rate_limit", -1, 2.0)]
    assert generate(client, sim, model=DEV, prompt="x", size="256x256").status_code == 200


@pytest.mark.parametrize(
    "spec",
    [
        {"fault": "meteor"},
        {"fault": "latency", "times": 0},
        {"fault": "latency", "secs": 1},
        {"fault": "server_error", "status": 404},
        {"fault": "rate_limit", "seconds": "soon"},
    ],
)
def test_it_refuses_a_malformed_fault(
    sim: SimulatorServer, client: httpx.Client, spec: dict[str, Any]
) -> None:
    response = client.post(f"{sim.url}/_sim/faults", json=spec)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_fault"


def test_it_fails_a_prompt_carrying_a_directive(sim: SimulatorServer, client: httpx.Client) -> None:
    statuses = [
        generate(client, sim, model=DEV, prompt="a cat [sim:fault=500]").status_code
        for _ in range(2)
    ]

    moderated = generate(client, sim, model=DEV, prompt="[sim:fault=moderation] a cat")

    assert statuses == [500, 500]
    assert_envelope(moderated, 400, "content_policy_violation", "invalid_request_error")


def test_it_lets_a_directive_fail_only_the_first_tries(
    sim: SimulatorServer, client: httpx.Client
) -> None:
    prompt = "a dog [sim:fault=rate_limit,seconds=3,times=2]"

    responses = [generate(client, sim, model=DEV, prompt=prompt, size="256x256") for _ in range(3)]

    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["retry-after"] == "3"


def test_it_ignores_a_malformed_directive(sim: SimulatorServer, client: httpx.Client) -> None:
    response = generate(client, sim, model=DEV, prompt="[sim:fault=meteor]", size="256x256")

    assert response.status_code == 200


# --- recording and control -------------------------------------------------------------


def test_it_records_what_it_received(sim: SimulatorServer, client: httpx.Client) -> None:
    body = {"model": DEV, "prompt": "a fox", "size": "256x256", "seed": 3, "steps": 12}
    generate(client, sim, **body)

    [recorded] = client.get(f"{sim.url}/_sim/requests").json()["requests"]

    assert (recorded["method"], recorded["path"], recorded["format"]) == (
        "POST",
        "/v1/images/generations",
        "modelverse",
    )
    assert recorded["headers"]["authorization"] == f"Bearer {KEY}"
    assert recorded["json"] == body
    assert recorded["status"] == 200


def test_it_summarises_multipart_uploads(sim: SimulatorServer, client: httpx.Client) -> None:
    png = base64.b64decode(data_url(8, 8).split(",", 1)[1])
    client.post(
        f"{sim.url}/v1/images/generations",
        data={"prompt": "edit", "model": "flux-kontext-pro"},
        files=[("image", ("a.png", png, "image/png")), ("image", ("b.png", png, "image/png"))],
        headers=AUTH,
    )

    [recorded] = sim.requests()

    assert recorded["form"] == {"prompt": ["edit"], "model": ["flux-kontext-pro"]}
    assert [(f["field"], f["filename"], f["size"]) for f in recorded["files"]] == [
        ("image", "a.png", len(png)),
        ("image", "b.png", len(png)),
    ]


def test_it_filters_and_clears_recorded_requests(
    sim: SimulatorServer, client: httpx.Client
) -> None:
    url = generate(client, sim, model=DEV, prompt="x", size="256x256").json()["data"][0]["url"]
    client.get(url)

    api = client.get(f"{sim.url}/_sim/requests", params={"path": "/v1/"}).json()["requests"]
    client.delete(f"{sim.url}/_sim/requests")

    assert [r["path"] for r in api] == ["/v1/images/generations"]
    assert client.get(f"{sim.url}/_sim/requests").json()["requests"] == []


def test_it_resets_everything(sim: SimulatorServer, client: httpx.Client) -> None:
    url = generate(client, sim, model=DEV, prompt="x", size="256x256").json()["data"][0]["url"]
    add_fault(client, sim, fault="server_error")

    assert client.post(f"{sim.url}/_sim/reset").status_code == 200

    assert sim.requests() == []
    assert client.get(url).status_code == 404
    assert generate(client, sim, model=DEV, prompt="x", size="256x256").status_code == 200


# --- capacity and the command ------------------------------------------------------------


AT_ONCE = 20


def test_it_serves_slow_requests_at_once() -> None:
    """All AT_ONCE requests are in flight together, then all answered (bench/simulator_load.py
    sends 200 and prints their wall time against the latency)."""

    async def run(url: str, server: SimulatorServer) -> tuple[list[int], int]:
        body = {"model": DEV, "prompt": "load", "size": "256x256"}
        async with httpx.AsyncClient(timeout=120) as c:
            calls = [
                asyncio.ensure_future(
                    c.post(f"{url}/v1/images/generations", json=body, headers=AUTH)
                )
                for _ in range(AT_ONCE)
            ]
            peak = await asyncio.to_thread(peak_in_flight, server, AT_ONCE)
            return [r.status_code for r in await asyncio.gather(*calls)], peak

    # Each request waits upstream far longer than AT_ONCE of them take to arrive.
    with SimulatorServer(keys=KEY, latency=10.0) as server:
        statuses, peak = asyncio.run(run(server.url, server))

    assert peak == AT_ONCE
    assert statuses == [200] * AT_ONCE


WAITING = 100


def test_waiting_calls_hold_no_thread_each() -> None:
    """The asyncio transport holds a slow call as a coroutine: WAITING calls in flight at
    once add no thread (the threaded transport added one per connection)."""

    async def run(server: SimulatorServer) -> tuple[list[int], int]:
        body = {"model": DEV, "prompt": "load", "size": "256x256"}
        limits = httpx.Limits(max_connections=WAITING + 5)
        async with httpx.AsyncClient(timeout=120, limits=limits) as c:
            calls = [
                asyncio.ensure_future(
                    c.post(f"{server.url}/v1/images/generations", json=body, headers=AUTH)
                )
                for _ in range(WAITING)
            ]
            await asyncio.to_thread(peak_in_flight, server, WAITING)  # starts one pool thread
            during = threading.active_count()
            return [r.status_code for r in await asyncio.gather(*calls)], during

    before = threading.active_count()
    with SimulatorServer(keys=KEY, latency=5.0) as server:
        statuses, during = asyncio.run(run(server))

    assert statuses == [200] * WAITING
    assert during - before <= 2  # the server's loop thread and the watcher, not WAITING


def test_the_threaded_transport_still_answers() -> None:
    with SimulatorServer(keys=KEY, threaded=True) as server, httpx.Client(timeout=10) as c:
        response = generate(c, server, model=DEV, prompt="x", size="256x256")

    assert response.status_code == 200


def peak_in_flight(server: SimulatorServer, want: int, timeout: float = 60.0) -> int:
    """The most requests unanswered at one moment, watched until `want` or the first answer."""
    peak = 0

    def settled() -> bool:
        nonlocal peak
        statuses = [r["status"] for r in server.requests("/v1/images/generations")]
        peak = max(peak, statuses.count(None))
        return peak >= want or any(s is not None for s in statuses)

    wait_until(settled, within=timeout, what=f"{want} requests in flight at once", every=0.05)
    return peak


def test_the_command_serves_until_interrupted() -> None:
    port = free_port()
    # A database nobody can reach: the command must not need one.
    env = {
        **os.environ,
        "DARKROOM_SIMULATOR_KEY": "cmd-key",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "simulator", "--port", str(port), "--link-ttl", "60"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, proc)
        response = httpx.post(
            f"{url}/v1/images/generations",
            json={"model": DEV, "prompt": "x", "size": "256x256"},
            headers={"Authorization": "Bearer cmd-key"},
        )
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)

    assert response.status_code == 200
    assert proc.returncode == 0, err
    assert "Simulator stopped" in out
    assert "Traceback" not in err


def test_a_url_result_is_drawn_on_its_first_download_only(
    sim: SimulatorServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load wave sent straight to the simulator downloads nothing: answering it must not
    cost a drawing each (bench P2's direct wave was the simulator's own CPU). The picture
    is the same whenever it is drawn, and a b64_json answer carries it at once."""
    from simulator import images

    drawn: list[int] = []
    real = images.render_png

    def counting(**kwargs: Any) -> bytes:
        drawn.append(kwargs["seed"])
        return real(**kwargs)

    monkeypatch.setattr(images, "render_png", counting)
    body = {"model": DEV, "prompt": "lazy", "size": "256x256", "seed": 7}
    [item] = generate(client, sim, **body).json()["data"]
    assert drawn == []

    first, again = client.get(item["url"]), client.get(item["url"])
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.content == again.content == real(prompt="lazy", seed=7, width=256, height=256)
    assert png_size(first.content) == (256, 256)
    assert drawn == [7]

    generate(client, sim, **body, response_format="b64_json")
    assert drawn == [7, 7]


def test_a_burst_of_connections_is_queued_not_dropped() -> None:
    """Clients connecting in the same instant wait in the listen backlog while the loop is
    busy; past it the kernel drops their SYNs and they retry a second later (the direct
    wave's last calls took 11 s instead of 10). asyncio's start_server listens again with
    a backlog of 100 unless told otherwise."""
    burst = 400
    with SimulatorServer(keys=KEY) as server:
        loop = server._aio._loop
        assert loop is not None
        loop.call_soon_threadsafe(time.sleep, 2.0)
        time.sleep(0.2)
        socks = [socket.socket() for _ in range(burst)]
        try:
            for s in socks:
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", server.port))
            time.sleep(1.0)  # the loop still sleeps: only the backlog holds them
            connected = sum(
                1
                for s in socks
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and _peer(s)
            )
        finally:
            for s in socks:
                s.close()
    assert connected == burst


def _peer(s: socket.socket) -> bool:
    try:
        s.getpeername()
    except OSError:
        return False
    return True
