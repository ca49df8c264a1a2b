"""Every stored original carries a C2PA manifest signed by the instance."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import c2pa
import pytest
from django.core.files.base import ContentFile
from django.test import Client

from generations.models import Generation, Image, ReferenceImage
from generations.provenance import keys
from generations.results import store_images
from tests.images import png_bytes
from tests.upstreams import create, run_to_end, sim_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
KONTEXT = "black-forest-labs/flux-kontext-pro"


@pytest.fixture(autouse=True)
def c2pa_dir(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.DARKROOM_C2PA_DIR = tmp_path / "c2pa"
    keys.signing_material.cache_clear()
    yield tmp_path / "c2pa"
    keys.signing_material.cache_clear()


def _edit(user: Any, refs: list[bytes]) -> Generation:
    generation = Generation.objects.create(
        user=user,
        model=KONTEXT,
        attempts=[{"channel": "modelverse", "ok": True}],
    )
    for position, data in enumerate(refs):
        ReferenceImage.objects.create(
            generation=generation,
            param="image",
            position=position,
            file=ContentFile(data, name="ref.png"),
            width=32,
            height=32,
            format="PNG",
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    return generation


def _store(generation: Generation, data: bytes) -> Image:
    [image] = store_images(generation, [data])
    image.save()
    return image


def _configure_certificate(settings: Any, issuer: str) -> None:
    """An operator's own certificate and key (DARKROOM_C2PA_CERT / _KEY), issued by `issuer`."""
    _ca, chain_pem, key_pem = keys._new_chain(issuer)
    settings.DARKROOM_C2PA_CERT = chain_pem.decode()
    settings.DARKROOM_C2PA_KEY = key_pem.decode()
    keys.signing_material.cache_clear()


def _read(data: bytes) -> tuple[dict[str, Any], c2pa.Reader]:
    reader = c2pa.Reader("image/png", io.BytesIO(data))
    return json.loads(reader.json()), reader


def test_it_signs_an_edit_naming_model_channel_and_references(user: Any) -> None:
    generation = _edit(user, [png_bytes(color="red"), png_bytes(color="blue")])
    image = _store(generation, png_bytes(64, 48))

    stored = image.file.open("rb").read()
    store, reader = _read(stored)
    manifest = store["manifests"][store["active_manifest"]]
    [actions] = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    [created] = actions["data"]["actions"]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED
    agent = created["softwareAgent"]
    assert (agent["name"], agent["model"], agent["channel"]) == ("Darkroom", KONTEXT, "modelverse")
    assert created["when"]
    assert [(i["title"], i["relationship"]) for i in manifest["ingredients"]] == [
        ("image 1", "inputTo"),
        ("image 2", "inputTo"),
    ]
    # Valid signature and hashes; the one failure is that nobody trusts the local CA.
    assert reader.get_validation_state() == "Valid"
    failures = reader.get_validation_results()["activeManifest"]["failure"]
    assert [f["code"] for f in failures] == ["signingCredential.untrusted"]
    assert (image.credentials, image.credentials_signer) == ("signed", "Darkroom")
    assert image.bytes == len(stored)
    assert image.sha256 == hashlib.sha256(stored).hexdigest()


def test_it_signs_with_the_configured_certificate(user: Any, settings: Any) -> None:
    _configure_certificate(settings, "Example Newsroom")

    image = _store(_edit(user, []), png_bytes())

    store, _ = _read(image.file.open("rb").read())
    manifest = store["manifests"][store["active_manifest"]]
    assert manifest["signature_info"]["issuer"] == "Example Newsroom"
    assert manifest.get("ingredients", []) == []
    assert image.credentials_signer == "Example Newsroom"
    assert not settings.DARKROOM_C2PA_DIR.exists()  # no local chain made


def test_one_thread_signs_image_after_image_and_follows_a_new_key(user: Any, settings: Any) -> None:
    # The thread's Signer and Context are kept between images (signing.py): each image
    # still gets a valid manifest of its own, and a changed key is used at once.
    first, second = (_store(_edit(user, []), png_bytes(20 + i, 20)) for i in range(2))
    for image in (first, second):
        store, reader = _read(image.file.open("rb").read())
        assert reader.get_validation_state() == "Valid"
        assert store["manifests"][store["active_manifest"]]["title"].startswith(
            str(image.generation_id)
        )
    _configure_certificate(settings, "Rotated Newsroom")

    rotated = _store(_edit(user, []), png_bytes())

    store, _ = _read(rotated.file.open("rb").read())
    assert store["manifests"][store["active_manifest"]]["signature_info"]["issuer"] == (
        "Rotated Newsroom"
    )
    assert rotated.credentials_signer == "Rotated Newsroom"


def test_it_makes_the_local_chain_once(user: Any, c2pa_dir: Path) -> None:
    _store(_edit(user, []), png_bytes())
    key = (c2pa_dir / keys.KEY_FILE).read_bytes()
    keys.signing_material.cache_clear()
    _store(_edit(user, []), png_bytes())
    assert (c2pa_dir / keys.KEY_FILE).read_bytes() == key
    assert (c2pa_dir / keys.CA_FILE).exists()


def test_it_stores_the_image_unsigned_and_says_so_when_signing_fails(
    user: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.DARKROOM_C2PA_CERT = "-----BEGIN CERTIFICATE-----\nnot a certificate\n"
    settings.DARKROOM_C2PA_KEY = "-----BEGIN PRIVATE KEY-----\nnot a key\n"
    keys.signing_material.cache_clear()
    original = png_bytes(40, 30)

    image = _store(_edit(user, []), original)

    assert image.file.open("rb").read() == original
    assert image.sha256 == hashlib.sha256(original).hexdigest()
    assert image.credentials == "failed"
    assert "C2PA signing failed" in caplog.text


def test_the_portal_serves_the_signed_file_and_its_manifest(user: Any, other_user: Any) -> None:
    image = _store(_edit(user, [png_bytes(color="red")]), png_bytes(64, 48))
    client = Client()
    client.force_login(user)

    served = b"".join(client.get(f"/images/{image.pk}/original/").streaming_content)  # type: ignore[attr-defined]
    assert hashlib.sha256(served).hexdigest() == image.sha256
    assert len(served) == image.bytes
    assert _read(served)[1].get_validation_state() == "Valid"

    page = client.get(f"/images/{image.pk}/").content.decode()
    assert "Signed by Darkroom" in page
    assert "AI-generated" in page
    manifest = client.get(f"/images/{image.pk}/credentials.json").json()
    active = manifest["manifests"][manifest["active_manifest"]]
    assert active["ingredients"][0]["title"] == "image 1"
    assert manifest["validation_state"] == "Valid"

    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.get(f"/images/{image.pk}/credentials.json").status_code == 404


def test_the_manifest_link_says_when_there_is_none(user: Any, settings: Any) -> None:
    settings.DARKROOM_C2PA_KEY = settings.DARKROOM_C2PA_CERT = "-----BEGIN broken"
    keys.signing_material.cache_clear()
    image = _store(_edit(user, []), png_bytes())
    client = Client()
    client.force_login(user)
    assert "signing failed" in client.get(f"/images/{image.pk}/").content.decode()
    missing = client.get(f"/images/{image.pk}/credentials.json")
    assert missing.status_code == 404
    assert "no content credentials" in missing.json()["error"]


@pytest.mark.integration
def test_a_real_edit_through_the_worker_is_signed_with_its_channel_and_reference(
    live_worker: Any, live_simulator: Any, user: Any
) -> None:
    from generations.services import generation_create
    from tests.images import data_url
    from tests.live import wait_finished

    generation = generation_create(
        user=user,
        model=KONTEXT,
        prompt="make it night",
        params={},
        images={"image": [data_url(png_bytes(48, 48, color="navy"))]},
    )
    wait_finished(generation)

    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    [image] = generation.images.all()
    stored = image.file.open("rb").read()
    store, reader = _read(stored)
    manifest = store["manifests"][store["active_manifest"]]
    [actions] = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    agent = actions["data"]["actions"][0]["softwareAgent"]
    assert (agent["model"], agent["channel"]) == (KONTEXT, generation.channel)
    assert generation.channel  # the worker recorded which channel served it
    assert [i["title"] for i in manifest["ingredients"]] == ["image 1"]
    assert reader.get_validation_state() == "Valid"
    assert image.credentials == "signed"
    assert image.sha256 == hashlib.sha256(stored).hexdigest()


def test_the_local_chain_is_trusted_once_its_ca_is(user: Any, c2pa_dir: Path) -> None:
    # Proves the chain meets C2PA's certificate profile: only the missing anchor was wrong.
    image = _store(_edit(user, []), png_bytes())
    anchors = (c2pa_dir / keys.CA_FILE).read_text()
    context = c2pa.Context.from_dict(
        {"trust": {"trust_anchors": anchors}, "verify": {"verify_trust": True}}
    )
    reader = c2pa.Reader("image/png", io.BytesIO(image.file.open("rb").read()), None, context)
    assert reader.get_validation_state() == "Trusted"
    assert reader.get_validation_results()["activeManifest"]["failure"] == []


def test_start_up_refuses_half_or_broken_signing_settings(settings: Any) -> None:
    from generations.provenance.checks import c2pa_signer_is_usable

    settings.DARKROOM_C2PA_CERT = "/nowhere/chain.pem"
    assert [e.id for e in c2pa_signer_is_usable()] == ["darkroom.E101"]
    settings.DARKROOM_C2PA_KEY = "/nowhere/key.pem"
    [error] = c2pa_signer_is_usable()
    assert error.id == "darkroom.E102"
    assert "/nowhere/chain.pem" in error.msg
    _ca, chain_pem, key_pem = keys._new_chain("Example Newsroom")
    settings.DARKROOM_C2PA_CERT, settings.DARKROOM_C2PA_KEY = chain_pem.decode(), key_pem.decode()
    assert c2pa_signer_is_usable() == []


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_it_signs_every_format_upstreams_send(user: Any, fmt: str, mime: str) -> None:
    image = _store(_edit(user, []), png_bytes(48, 32, fmt=fmt))
    stored = image.file.open("rb").read()
    reader = c2pa.Reader(mime, io.BytesIO(stored))
    assert (image.format, image.credentials) == (fmt, "signed")
    assert reader.get_validation_state() == "Valid"
    assert image.sha256 == hashlib.sha256(stored).hexdigest()


def test_an_upstream_manifest_is_kept_as_an_ingredient(user: Any, sim: Any, enqueued: list) -> None:
    """The simulator signs its results (as OpenAI and Google do); Darkroom's signature
    keeps that manifest as the parent ingredient instead of stripping it."""
    _ca, chain_pem, key_pem = keys._new_chain("Upstream Labs")
    sim.configure(
        sign_results={"chain_pem": chain_pem.decode(), "key_pem": key_pem.decode(), "alg": "es256"}
    )
    generation = run_to_end(create(user, "black-forest-labs/flux.1-dev", size="256x256"))

    [image] = generation.images.all()
    store, reader = _read(image.file.open("rb").read())
    manifest = store["manifests"][store["active_manifest"]]
    [ingredient] = manifest["ingredients"]
    assert (ingredient["title"], ingredient["relationship"]) == (
        "upstream result (modelverse)",
        "parentOf",
    )
    upstream = store["manifests"][ingredient["active_manifest"]]
    assert upstream["signature_info"]["issuer"] == "Upstream Labs"
    assert upstream["claim_generator_info"][0]["name"] == "Simulated Upstream"
    assert manifest["signature_info"]["issuer"] == "Darkroom"
    assert reader.get_validation_state() == "Valid"
    assert image.credentials == "signed"
