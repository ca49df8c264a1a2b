"""Channels: every (public model, channel) pair generates; routing, failover, cooling off,
forcing a channel, and keys that never come back in full."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.quota import quota_set_limit, quota_status
from generations.models import Generation
from providers.catalog import ModelSpec, get_catalog
from providers.models import Channel, ChannelModel
from simulator.server import SimulatorServer
from tests.images import png_bytes
from tests.upstreams import create, run_to_end, sim_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
DEV = "black-forest-labs/flux.1-dev"
PAIRS = [(m.name, c.name) for m in get_catalog().models.values() for c in m.channels]
# Where each format's creating request goes (the poll requests follow from it).
PATHS = {
    "openai_images": "/v1/images/generations",
    "dalle": "/v1/images/generations",
    "openai_edits": "/v1/images/edits",
    "chat": "/v1/chat/completions",
    "replicate": "/replicate/v1/",
    "bfl": "/flux/v1/",
}


def request_for(spec: ModelSpec, fmt: str) -> tuple[dict[str, Any], dict[str, list[bytes]]]:
    """Non-default values for every parameter the model takes; images where it takes them."""
    values = {
        "seed": 1234,
        "steps": 3,
        "guidance_scale": 3.5,
        "size": "512x384",
        "aspect_ratio": "16:9",
        "strength": 0.6,
        "safety_tolerance": 3,
        "prompt_upsampling": True,
        "raw": True,
        "negative_prompt": "blurry",
    }
    params = {k: v for k, v in values.items() if k in spec.params}
    images: dict[str, list[bytes]] = {}
    for p in spec.image_params:
        if p.required or fmt not in ("dalle",):
            images[p.name] = [
                png_bytes(96, 64, color)
                for color in (["teal", "orange"] if p.type == "images" else ["teal"])
            ]
    return params, images


@pytest.mark.parametrize(("model", "channel"), PAIRS, ids=[f"{m}@{c}" for m, c in PAIRS])
def test_every_model_generates_through_every_channel(
    sim: SimulatorServer, user: Any, enqueued: list, model: str, channel: str
) -> None:
    spec = get_catalog().models[model]
    route = ChannelModel.objects.select_related("channel").get(model=model, channel__name=channel)
    fmt = route.channel.format
    params, images = request_for(spec, fmt)
    quota_set_limit(user=user, model=model, limit=10)
    generation = run_to_end(create(user, model, images=images, **params), channel=channel)

    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    assert generation.channel == channel
    assert [a["channel"] for a in generation.attempts] == [channel]
    calls = [
        r
        for r in sim.requests(PATHS[fmt])
        if r["format"] not in (None, "modelverse") or fmt == "openai_images"
    ]
    assert calls, f"nothing reached {PATHS[fmt]}"
    first = calls[0]
    # Dropped, never sent: the upstream saw no field it does not have.
    assert all(not r["notes"].get("ignored") for r in calls), [r["notes"] for r in calls]
    assert _model_sent(first, fmt) == route.upstream_model
    image = generation.images.get()
    sized = [r["notes"]["size"] for r in calls if "size" in r["notes"]]
    assert f"{image.width}x{image.height}" == sized[-1]
    refs = sum(len(v) for v in images.values())
    if refs and fmt != "openai_images":
        noted = first["notes"].get("references") or {}
        assert len(noted) == refs
    assert quota_status(user=user, model=model).used == 1


def _model_sent(record: dict[str, Any], fmt: str) -> str:
    if fmt == "openai_edits":
        return str(record["form"]["model"][0])
    if fmt == "replicate":
        return str(record["path"].split("/models/")[1].rsplit("/predictions", 1)[0])
    if fmt == "bfl":
        return str(record["path"].rsplit("/", 1)[1])
    return str(record["json"]["model"])


def test_the_catalog_channels_are_seeded_into_the_database() -> None:
    seeded = {(r.model, r.channel.name) for r in ChannelModel.objects.select_related("channel")}
    assert set(PAIRS) <= seeded
    bfl = Channel.objects.get(name="bfl")
    assert (bfl.format, bfl.key_env, bfl.from_catalog) == ("bfl", "BFL_API_KEY", True)


def test_seeding_again_keeps_an_admins_edits() -> None:
    from providers.services import channels_sync_catalog

    ChannelModel.objects.filter(model=DEV, channel__name="bfl").update(priority=99)
    Channel.objects.filter(name="reseller-chat").update(enabled=False)
    assert channels_sync_catalog() == 0
    assert ChannelModel.objects.get(model=DEV, channel__name="bfl").priority == 99
    assert not Channel.objects.get(name="reseller-chat").enabled


def test_it_fails_over_from_a_channel_answering_5xx_to_the_next(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("server_error", times=1, path="/v1/images/generations", model=DEV)
    generation = run_to_end(create(user, DEV, size="512x512"))
    assert generation.status == Generation.Status.SUCCEEDED
    assert [(a["channel"], a["ok"], a["code"]) for a in generation.attempts] == [
        ("modelverse", False, "upstream_unavailable"),
        ("reseller-dalle", True, ""),
    ]
    assert generation.channel == "reseller-dalle"
    assert Channel.objects.get(name="modelverse").consecutive_failures == 1
    assert quota_status(user=user, model=DEV).used == 1


def test_it_fails_over_from_a_channel_whose_key_is_refused(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("unauthorized", times=1, path="/v1/images/generations", model=DEV)
    generation = run_to_end(create(user, DEV, size="512x512"))
    assert generation.status == Generation.Status.SUCCEEDED
    assert [(a["channel"], a["code"]) for a in generation.attempts] == [
        ("modelverse", "upstream_auth_failed"),
        ("reseller-dalle", ""),
    ]
    assert Channel.objects.get(name="modelverse").consecutive_failures == 1


def test_it_skips_a_channel_that_cannot_carry_the_request(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("server_error", times=1, path="/v1/images/generations", model=DEV)
    generation = run_to_end(create(user, DEV, images={"image": [png_bytes(64, 64)]}))
    assert generation.status == Generation.Status.SUCCEEDED
    # The DALL-E format has no field for a reference image: skipped, not sent without it.
    assert [(a["channel"], a["code"]) for a in generation.attempts] == [
        ("modelverse", "upstream_unavailable"),
        ("reseller-dalle", "channel_cannot_serve"),
        ("bfl", ""),
    ]
    assert not sim.requests("/v1/images/generations")[1:]  # only ModelVerse's failed call


def test_a_channel_that_keeps_failing_cools_off_and_comes_back(
    sim: SimulatorServer, user: Any, other_user: Any, enqueued: list, settings: Any
) -> None:
    settings.DARKROOM_CHANNEL_FAILURE_THRESHOLD = 2
    sim.add_fault("server_error", times=2, path="/v1/images/generations", model=DEV)
    for person in (user, other_user):  # failures from two people: the channel is at fault
        assert run_to_end(create(person, DEV)).status == Generation.Status.SUCCEEDED
    modelverse = Channel.objects.get(name="modelverse")
    assert modelverse.cooling_off()
    assert "2 failures in a row" in modelverse.disabled_reason
    assert "upstream_unavailable" in modelverse.disabled_reason

    skipped = run_to_end(create(user, DEV))
    assert [a["channel"] for a in skipped.attempts] == ["reseller-dalle"]

    Channel.objects.filter(pk=modelverse.pk).update(
        disabled_until=timezone.now() - timedelta(seconds=1)  # the cooling-off is over
    )
    back = run_to_end(create(user, DEV))
    assert [(a["channel"], a["ok"]) for a in back.attempts] == [("modelverse", True)]
    modelverse.refresh_from_db()
    assert (modelverse.consecutive_failures, modelverse.disabled_until) == (0, None)


def test_a_success_ends_the_run_of_failures_that_would_cool_a_channel_off(
    sim: SimulatorServer, user: Any, other_user: Any, enqueued: list, settings: Any
) -> None:
    settings.DARKROOM_CHANNEL_FAILURE_THRESHOLD = 2
    sim.add_fault("server_error", times=1, path="/v1/images/generations", model=DEV)
    assert run_to_end(create(user, DEV)).channel == "reseller-dalle"  # modelverse failed once
    assert run_to_end(create(user, DEV)).channel == "modelverse"  # and then served one
    sim.add_fault("server_error", times=1, path="/v1/images/generations", model=DEV)
    assert run_to_end(create(other_user, DEV)).channel == "reseller-dalle"
    modelverse = Channel.objects.get(name="modelverse")
    # Two failures from two people, but not in a row: the channel stays in use.
    assert (modelverse.consecutive_failures, modelverse.cooling_off()) == (1, False)


def test_a_channel_switched_off_in_the_admin_is_not_used(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    Channel.objects.filter(name="modelverse").update(enabled=False)
    ChannelModel.objects.filter(model=DEV, channel__name="reseller-dalle").update(enabled=False)
    generation = run_to_end(create(user, DEV))
    assert generation.channel == "bfl"


def test_when_every_channel_fails_the_job_fails_and_refunds(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("server_error", times=-1)
    generation = run_to_end(create(user, DEV, n=1), max_steps=30)
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "upstream_unavailable"
    assert quota_status(user=user, model=DEV).used == 0
    tried = {a["channel"] for a in generation.attempts if a["phase"] == "submit"}
    assert tried == {"modelverse", "reseller-dalle", "bfl", "reseller-replicate"}


def test_equal_priorities_share_by_weight(user: Any) -> None:
    from providers.channels import channels_for

    kpro = "black-forest-labs/flux-kontext-pro"
    ChannelModel.objects.filter(model=kpro, channel__name="reseller-replicate").update(weight=9)
    firsts = [channels_for(kpro)[1].name for _ in range(400)]  # [0] is ModelVerse (priority 10)
    replicate = firsts.count("reseller-replicate")
    assert 300 < replicate < 390, replicate  # expected 360 of 400
    assert set(firsts) == {"reseller-replicate", "reseller-edits"}


def test_generate_command_forces_a_database_channel(
    sim: SimulatorServer, user: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Run the job in place of the worker, at once (the test's transaction never commits).
    monkeypatch.setattr("generations.services.transaction.on_commit", lambda fn, **kw: fn())
    monkeypatch.setattr(
        "generations.publishing.enqueue",
        lambda generation_id, channel=None: run_to_end(
            Generation.objects.get(pk=generation_id), channel=channel
        ),
    )
    Channel.objects.create(name="backup-bfl", format="bfl", base_url="https://bfl.example")
    ChannelModel.objects.create(
        channel=Channel.objects.get(name="backup-bfl"),
        model=DEV,
        upstream_model="flux-dev",
        priority=-5,
        enabled=False,
    )
    call_command(
        "generate",
        "--user",
        user.username,
        "--model",
        DEV,
        "--prompt",
        "a kite",
        "--channel",
        "backup-bfl",
        "--timeout",
        "20",
    )
    assert "succeeded via channel backup-bfl" in capsys.readouterr().out
    assert sim.requests("/flux/v1/flux-dev")


def test_a_stored_key_is_encrypted_at_rest_and_never_shown(admin_client: Any) -> None:
    from django.db import connection

    response = admin_client.post(
        "/admin/providers/channel/add/",
        {
            "name": "spare",
            "format": "replicate",
            "enabled": "on",
            "base_url": "https://spare.example",
            "base_url_env": "",
            "key_env": "",
            "options": "{}",
            "new_api_key": "r8_secret_key_1234567890abcd",
            "routes-TOTAL_FORMS": "1",
            "routes-INITIAL_FORMS": "0",
            "routes-MIN_NUM_FORMS": "0",
            "routes-MAX_NUM_FORMS": "1000",
            "routes-0-model": DEV,
            "routes-0-upstream_model": "black-forest-labs/flux-dev",
            "routes-0-priority": "1",
            "routes-0-weight": "1",
            "routes-0-enabled": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    spare = Channel.objects.get(name="spare")
    assert spare.api_key == "r8_secret_key_1234567890abcd"
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM providers_channel WHERE name = 'spare'")
        stored = cursor.fetchone()[0]
    assert "secret" not in stored
    assert stored.startswith("gAAAA")
    page = admin_client.get(f"/admin/providers/channel/{spare.pk}/change/").content.decode()
    assert "r8_secret_key" not in page
    assert "abcd" in page
    listing = admin_client.get("/admin/providers/channel/").content.decode()
    assert "r8_secret_key" not in listing
    assert ChannelModel.objects.get(channel=spare).model == DEV


def test_an_admin_switches_channels_off_and_on(admin_client: Any) -> None:
    bfl, other = Channel.objects.get(name="bfl"), Channel.objects.exclude(name="bfl").first()
    url = "/admin/providers/channel/"
    admin_client.post(url, {"action": "switch_off", "_selected_action": [bfl.pk]})
    assert not Channel.objects.get(pk=bfl.pk).enabled
    assert Channel.objects.get(pk=other.pk).enabled
    admin_client.post(url, {"action": "switch_on", "_selected_action": [bfl.pk]})
    assert Channel.objects.get(pk=bfl.pk).enabled


def test_the_routes_query_picks_what_the_orm_definition_picks(settings: Any) -> None:
    """channels_for reads its routes with one query written out (the worker's hot path);
    it must choose and price exactly what the ORM's statement of the rules does."""
    from dataclasses import replace
    from decimal import Decimal

    from django.db.models import OuterRef, Q, Subquery

    from providers.channels import channels_for, resolve
    from providers.models import Price

    settings.DARKROOM_SIMULATOR_URL = ""  # the stored URLs and keys, decrypted
    now = timezone.now()
    Channel.objects.filter(name="modelverse").update(options={"timeout": 30})
    modelverse = Channel.objects.get(name="modelverse")
    modelverse.api_key = "sk-stored-secret"
    modelverse.save()
    Price.objects.create(
        channel=modelverse, model=DEV, per_image=Decimal("0.04"), per_megapixel=Decimal("0.5")
    )
    Price.objects.create(channel=Channel.objects.get(name="bfl"), model=DEV, per_image=0)
    ChannelModel.objects.filter(model=DEV, channel__name="bfl").update(options={"x": 1})

    def orm(model: str) -> list[Any]:
        price = Price.objects.filter(channel=OuterRef("channel_id"), model=model)
        routes = (
            ChannelModel.objects.select_related("channel")
            .filter(model=model, enabled=True, channel__enabled=True)
            .filter(Q(channel__disabled_until__isnull=True) | Q(channel__disabled_until__lte=now))
            .annotate(
                price_per_image=Subquery(price.values("per_image")[:1]),
                price_per_megapixel=Subquery(price.values("per_megapixel")[:1]),
            )
        )
        return sorted((priced(r) for r in routes), key=lambda c: c.name)

    def priced(route: Any) -> Any:
        per_image, per_megapixel = route.price_per_image, route.price_per_megapixel
        terms = None if per_image is None else (per_image, per_megapixel)
        return replace(resolve(route), priced=True, price=terms)

    def both() -> tuple[list[Any], list[Any]]:
        return sorted(channels_for(DEV), key=lambda c: c.name), orm(DEV)

    ours, defined = both()
    assert ours == defined
    assert {c.name: c.price for c in ours}["modelverse"] == (Decimal("0.04"), Decimal("0.5"))
    assert {c.name: c.api_key for c in ours}["modelverse"] == "sk-stored-secret"
    assert len(ours) == 4

    Channel.objects.filter(name="bfl").update(disabled_until=now + timedelta(minutes=5))
    Channel.objects.filter(name="modelverse").update(disabled_until=now - timedelta(seconds=1))
    ChannelModel.objects.filter(model=DEV, channel__name="reseller-dalle").update(enabled=False)
    ours, defined = both()
    assert ours == defined
    assert [c.name for c in ours] == ["modelverse", "reseller-replicate"]
    [forced] = channels_for(DEV, only="bfl")  # an operator checks the cooling channel
    assert (forced.name, forced.price, forced.healthy) == ("bfl", (Decimal(0), Decimal(0)), False)

    Channel.objects.filter(name="reseller-replicate").update(enabled=False)
    ours, defined = both()
    assert ours == defined
    assert [c.name for c in ours] == ["modelverse"]
