"""/v1/boards and /v1/presets over plain HTTP (Django's async client), and presets in
/v1/images/generations. Jobs are captured by `enqueued` and finished by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.contrib.auth.models import Group
from django.db import connections
from django.test import AsyncClient

from accounts.api_keys import api_key_issue
from generations.models import Generation, Image
from generations.portal.services import images_delete
from generations.services import generation_succeed
from generations.sync import run_sync
from tests.images import png_bytes
from tests.portal_helpers import make_generation

DEV = "black-forest-labs/flux.1-dev"
pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


class KeyClient(AsyncClient):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def generic(  # type: ignore[override]
        self, *args: Any, headers: dict | None = None, **kwargs: Any
    ) -> Any:
        return super().generic(
            *args, headers={"Authorization": f"Bearer {self.key}", **(headers or {})}, **kwargs
        )


@pytest.fixture
def clients(team: dict[str, Any]) -> dict[str, KeyClient]:
    return {name: KeyClient(api_key_issue(user=u, name="tool")[1]) for name, u in team.items()}


def not_found() -> dict[str, Any]:
    return {
        "error": {
            "message": "Not found.",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }


def forbidden() -> dict[str, Any]:
    return {
        "error": {
            "message": "Only the board's owner may change it.",
            "type": "invalid_request_error",
            "param": "board",
            "code": "permission_denied",
        }
    }


async def test_it_shares_a_board_with_a_group_read_only(
    team: dict[str, Any], clients: dict[str, KeyClient]
) -> None:
    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
    generation = await run_sync(make_generation, team["alice"], images=2)
    ids = await run_sync(lambda: [str(i.pk) for i in generation.images.all()])

    made = await alice.post(
        "/v1/boards",
        {"name": "Spring campaign", "description": "picks", "shared_with": ["studio"]},
        content_type="application/json",
    )
    assert made.status_code == 201
    board = made.json()
    assert {k: board[k] for k in ("name", "owner", "shared_with", "image_count")} == {
        "name": "Spring campaign",
        "owner": "alice",
        "shared_with": ["studio"],
        "image_count": 0,
    }
    added = await alice.post(
        f"/v1/boards/{board['id']}/images", {"image_ids": ids}, content_type="application/json"
    )
    assert added.status_code == 200
    assert added.json()["image_count"] == 2

    seen = (await bob.get("/v1/boards")).json()["data"]
    assert [(b["name"], b["image_count"]) for b in seen] == [("Spring campaign", 2)]
    page = (await bob.get(f"/v1/boards/{board['id']}")).json()
    assert sorted(item["id"] for item in page["data"]) == sorted(ids)
    assert all(i["url"].startswith("http://testserver/v1/files/images/") for i in page["data"])
    fetched = await AsyncClient().get(page["data"][0]["url"].removeprefix("http://testserver"))
    assert fetched.status_code == 200

    assert (await carol.get("/v1/boards")).json()["data"] == []
    hidden = await carol.get(f"/v1/boards/{board['id']}")
    assert (hidden.status_code, hidden.json()) == (404, not_found())

    write = await bob.post(
        f"/v1/boards/{board['id']}/images", {"image_ids": ids}, content_type="application/json"
    )
    assert (write.status_code, write.json()) == (403, forbidden())
    assert (await bob.delete(f"/v1/boards/{board['id']}")).status_code == 403
    assert (await carol.delete(f"/v1/boards/{board['id']}")).status_code == 404


async def test_it_refuses_images_that_are_not_the_owners(
    team: dict[str, Any], clients: dict[str, KeyClient]
) -> None:
    alice = clients["alice"]
    foreign = await run_sync(make_generation, team["bob"])
    image = await run_sync(lambda: str(foreign.images.get().pk))
    board = (
        await alice.post("/v1/boards", {"name": "Mine"}, content_type="application/json")
    ).json()
    response = await alice.post(
        f"/v1/boards/{board['id']}/images", {"image_ids": [image]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "image_ids"
    bad_group = await alice.post(
        "/v1/boards", {"name": "X", "shared_with": ["nobody"]}, content_type="application/json"
    )
    assert bad_group.status_code == 400
    assert bad_group.json() == {
        "error": {
            "message": "No group named 'nobody' among yours.",
            "type": "invalid_request_error",
            "param": "shared_with",
            "code": "invalid_value",
        }
    }


@pytest.mark.parametrize("path", ["/v1/boards", "/v1/presets"])
async def test_it_shares_only_with_the_owners_own_groups(
    path: str, team: dict[str, Any], clients: dict[str, KeyClient]
) -> None:
    """As the portal offers only "my groups": carol, in no group, cannot put a board or
    preset before "studio", and cannot tell its name from one that does not exist."""
    body = {"name": "Mine", "model": DEV, "template": "x", "shared_with": ["studio"]}
    refused = await clients["carol"].post(path, body, content_type="application/json")
    assert (refused.status_code, refused.json()) == (
        400,
        {
            "error": {
                "message": "No group named 'studio' among yours.",
                "type": "invalid_request_error",
                "param": "shared_with",
                "code": "invalid_value",
            }
        },
    )
    unknown = await clients["carol"].post(
        path, {**body, "shared_with": ["nobody"]}, content_type="application/json"
    )
    assert unknown.json()["error"]["message"] == "No group named 'nobody' among yours."
    assert (await clients["bob"].get(path)).json()["data"] == []
    made = await clients["alice"].post(path, body, content_type="application/json")
    assert (made.status_code, made.json()["shared_with"]) == (201, ["studio"])


async def test_a_boards_images_come_a_page_at_a_time_newest_addition_first(
    team: dict[str, Any], clients: dict[str, KeyClient]
) -> None:
    alice = clients["alice"]
    generation = await run_sync(make_generation, team["alice"], images=3)
    ids = await run_sync(lambda: [str(i.pk) for i in generation.images.order_by("index")])
    board = (
        await alice.post("/v1/boards", {"name": "Paged"}, content_type="application/json")
    ).json()
    for image_id in ids:  # one at a time, so the order of addition is known
        await alice.post(
            f"/v1/boards/{board['id']}/images",
            {"image_ids": [image_id]},
            content_type="application/json",
        )
    url = f"/v1/boards/{board['id']}"
    first = (await alice.get(url, {"per_page": 2})).json()
    second = (await alice.get(url, {"per_page": 2, "page": 2})).json()
    assert (first["image_count"], first["page"], first["has_more"]) == (3, 1, True)
    assert (second["page"], second["has_more"]) == (2, False)
    assert [i["id"] for i in first["data"] + second["data"]] == ids[::-1]
    too_many = await alice.get(url, {"per_page": 101})
    assert (too_many.status_code, too_many.json()["error"]["param"]) == (400, "per_page")


async def test_an_image_deleted_or_removed_leaves_the_board(
    team: dict[str, Any], clients: dict[str, KeyClient]
) -> None:
    alice = clients["alice"]
    generation = await run_sync(make_generation, team["alice"], images=2)
    first, second = await run_sync(lambda: list(generation.images.all()))
    board = (
        await alice.post(
            "/v1/boards", {"name": "B", "shared_with": "everyone"}, content_type="application/json"
        )
    ).json()
    assert board["shared_with"] == "everyone"
    await alice.post(
        f"/v1/boards/{board['id']}/images",
        {"image_ids": [str(first.pk), str(second.pk)]},
        content_type="application/json",
    )
    removed = await alice.delete(f"/v1/boards/{board['id']}/images/{first.pk}")
    assert removed.status_code == 204
    await run_sync(images_delete, user=team["alice"], image_ids=[second.pk])
    after = (await alice.get(f"/v1/boards/{board['id']}")).json()
    assert (after["image_count"], after["data"]) == (0, [])
    assert await Image.objects.filter(pk=first.pk).aexists()  # removed from the board only
    assert (await alice.delete(f"/v1/boards/{board['id']}")).status_code == 204
    assert (await alice.get(f"/v1/boards/{board['id']}")).status_code == 404


async def test_a_group_preset_is_used_by_a_member(
    team: dict[str, Any], clients: dict[str, KeyClient], enqueued: list[str]
) -> None:
    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
    made = await alice.post(
        "/v1/presets",
        {
            "name": "Product shot",
            "model": DEV,
            "params": {"size": "512x512", "steps": 20},
            "template": "Product shot of {product} on {background}",
            "shared_with": ["studio"],
        },
        content_type="application/json",
    )
    assert made.status_code == 201
    preset = made.json()
    assert preset["slots"] == ["product", "background"]
    assert [p["name"] for p in (await bob.get("/v1/presets")).json()["data"]] == ["Product shot"]
    assert (await carol.get("/v1/presets")).json()["data"] == []

    answer = await bob.post(
        "/v1/images/generations",
        {
            "preset": preset["id"],
            "preset_values": {"product": "a teapot", "background": "slate"},
            "steps": 8,
        },
        content_type="application/json",
        headers={"Prefer": "respond-async"},
    )
    assert answer.status_code == 202, answer.json()
    generation = await Generation.objects.aget(pk=answer.json()["id"])
    assert (generation.user_id, generation.preset_id) == (team["bob"].pk, preset["id"])
    assert generation.prompt == "Product shot of a teapot on slate"
    assert (generation.params["size"], generation.params["steps"]) == ("512x512", 8)
    await run_sync(generation_succeed, generation=generation, images=[png_bytes()], channel="t")
    job = (await bob.get(f"/v1/images/jobs/{generation.pk}")).json()
    assert (job["prompt"], job["preset"]) == ("Product shot of a teapot on slate", preset["id"])
    image = await Image.objects.aget(generation=generation)
    assert [item["id"] for item in job["data"]] == [str(image.pk)]

    refused = await carol.post(
        "/v1/images/generations",
        {"preset": preset["id"], "preset_values": {"product": "x", "background": "y"}},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "preset"
    assert (await bob.delete(f"/v1/presets/{preset['id']}")).status_code == 403
    assert (await alice.delete(f"/v1/presets/{preset['id']}")).status_code == 204
    assert len(enqueued) == 1


async def test_a_missing_slot_or_unknown_preset_is_a_400_naming_it(
    team: dict[str, Any], clients: dict[str, KeyClient], enqueued: list[str]
) -> None:
    alice = clients["alice"]
    preset = (
        await alice.post(
            "/v1/presets",
            {"name": "P", "model": DEV, "template": "A {thing} at dusk"},
            content_type="application/json",
        )
    ).json()
    missing = await alice.post(
        "/v1/images/generations",
        {"preset": preset["id"], "preset_values": {}},
        content_type="application/json",
    )
    assert missing.status_code == 400
    assert missing.json() == {
        "error": {
            "message": "The preset's slot 'thing' needs a value in 'preset_values'.",
            "type": "invalid_request_error",
            "param": "preset_values",
            "code": "missing_slot",
        }
    }
    unknown = await alice.post(
        "/v1/images/generations", {"preset": 99999}, content_type="application/json"
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "message": "No preset '99999'.",
        "type": "invalid_request_error",
        "param": "preset",
        "code": "preset_not_found",
    }
    assert enqueued == []
    assert not await Generation.objects.aexists()


def _many_shared_with_studio(owner: Any, count: int) -> None:
    """`count` boards and as many presets of `owner`'s, shared with "studio", made out of
    name order so the lists' own order shows."""
    from boards.models import Board
    from presets.models import Preset

    studio = Group.objects.get(name="studio")
    names = [f"item {i:02d}" for i in reversed(range(count))]
    boards = Board.objects.bulk_create([Board(owner=owner, name=n) for n in names])
    presets = Preset.objects.bulk_create(
        [Preset(owner=owner, name=n, model=DEV, template="{x}") for n in names]
    )
    for row in [*boards, *presets]:
        row.shared_groups.add(studio)


@pytest.mark.parametrize("path", ["/v1/boards", "/v1/presets"])
async def test_the_lists_page_like_a_boards_images(
    path: str, team: dict[str, Any], clients: dict[str, KeyClient]
) -> None:
    await run_sync(_many_shared_with_studio, team["alice"], 5)
    bob = clients["bob"]
    seen, number, more = [], 0, True
    while more:
        number += 1
        body = (await bob.get(path, {"page": number, "per_page": 2})).json()
        assert (body["object"], body["page"], len(body["data"]) <= 2) == ("list", number, True)
        seen += [item["name"] for item in body["data"]]
        more = body["has_more"]
    assert (number, seen) == (3, [f"item {i:02d}" for i in range(5)])

    first = (await bob.get(path)).json()  # 48 a page unless asked
    assert (first["page"], first["has_more"], len(first["data"])) == (1, False, 5)
    assert {"id", "name", "owner", "shared_with"} <= first["data"][0].keys()
    assert (await clients["carol"].get(path)).json()["data"] == []

    too_many = await bob.get(path, {"per_page": 101})
    assert (too_many.status_code, too_many.json()) == (
        400,
        {
            "error": {
                "message": "'per_page' is at most 100.",
                "type": "invalid_request_error",
                "param": "per_page",
                "code": "invalid_value",
            }
        },
    )
    assert (await bob.get(path, {"page": "0"})).json()["error"]["param"] == "page"
