"""A paid result stays paid for: what runs after the commit never undoes it, a failed
upstream task is a failed attempt, and a failed job keeps no partial files.

Real adapters against the in-process simulator, driven step by step (tests/upstreams.py).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError
from django.utils import timezone

from accounts.quota import quota_status
from generations import dispatch, results, spool
from generations.dispatch import generation_run
from generations.models import Generation, Image
from generations.signals import generation_finished
from simulator.server import SimulatorServer
from tests.images import png_bytes
from tests.servers import S3Server
from tests.upstreams import create, run_to_end, sent, sim_fixture  # noqa: F401

DEV = "black-forest-labs/flux.1-dev"  # ModelVerse first (synchronous)


@pytest.mark.django_db(transaction=True)
def test_a_receiver_failing_after_the_commit_never_deletes_the_charged_images(
    sim: SimulatorServer, user: Any, enqueued: list, caplog: pytest.LogCaptureFixture
) -> None:
    def database_gone(sender: Any, generation: Generation, **kwargs: Any) -> None:
        raise OperationalError("the database went away after the commit")

    generation_finished.connect(database_gone, dispatch_uid="test-database-gone")
    try:
        generation = run_to_end(create(user, DEV, n=2, size="512x512"))
    finally:
        generation_finished.disconnect(dispatch_uid="test-database-gone")

    assert generation.status == Generation.Status.SUCCEEDED
    images = list(Image.objects.filter(generation=generation))
    assert len(images) == 2
    for image in images:  # charged, so still there
        assert image.file.storage.exists(image.file.name)
    quota = quota_status(user=user, model=DEV)
    assert (quota.used, quota.reserved) == (2, 0)
    assert len(sent(sim, "/v1/images/generations")) == 1
    assert "failed after the outcome was committed" in caplog.text


def files_under(root: Any) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()]


@pytest.mark.django_db
def test_a_later_image_failing_leaves_no_file_of_the_earlier_ones(
    sim: SimulatorServer, user: Any, enqueued: list, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign = results.sign_original
    calls: list[int] = []

    def signer_dies_on_the_second(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the signer crashed")
        return sign(*args)

    monkeypatch.setattr(results, "sign_original", signer_dies_on_the_second)
    generation = create(user, DEV, n=2, size="512x512")
    with pytest.raises(RuntimeError):
        generation_run(generation_id=generation.pk, channel_name="modelverse")

    assert files_under(settings.MEDIA_ROOT) == []  # the first image's file went too
    assert not Image.objects.filter(generation=generation).exists()


@pytest.mark.django_db
def test_a_storage_outage_keeps_the_paid_images_and_never_calls_upstream_again(
    sim: SimulatorServer,
    user: Any,
    enqueued: list,
    s3_server: S3Server,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings.STORAGE_BACKEND = "s3"
    settings.STORAGES = {**settings.STORAGES, "default": s3_server.storage_settings()}
    settings.DARKROOM_SPOOL_DIR = tmp_path / "spool"
    download = dispatch.download_results
    back = threading.Thread(target=s3_server.start_again)
    spooled: list[int] = []

    def paid_then_the_store_goes_away(*args: Any) -> list[bytes]:
        images = download(*args)
        s3_server.stop()
        threading.Timer(2.0, back.start).start()
        return images

    def spool_write(generation_id: Any, result: spool.Spooled) -> None:
        spool.spool_write(generation_id, result)
        spooled.append(len(list((tmp_path / "spool").glob("*/*.bin"))))

    monkeypatch.setattr(dispatch, "download_results", paid_then_the_store_goes_away)
    monkeypatch.setattr(dispatch, "spool_write", spool_write)
    generation = create(user, DEV, n=2, size="512x512")
    try:
        generation = run_to_end(generation, channel="modelverse")
    finally:
        back.join(timeout=60)

    assert generation.status == Generation.Status.SUCCEEDED
    assert len(sent(sim, "/v1/images/generations")) == 1
    assert spooled == [2]  # kept on local disk while the store was away...
    assert not (tmp_path / "spool" / str(generation.pk)).exists()  # ...until stored
    images = list(Image.objects.filter(generation=generation))
    assert {i.file.name for i in images} <= s3_server.keys()
    assert len(images) == 2
    quota = quota_status(user=user, model=DEV)
    assert (quota.used, quota.reserved) == (2, 0)


@pytest.mark.django_db
def test_a_job_resumed_with_its_result_spooled_stores_it_and_pays_nothing_more(
    sim: SimulatorServer, user: Any, enqueued: list, settings: Any, tmp_path: Path
) -> None:
    settings.DARKROOM_SPOOL_DIR = tmp_path / "spool"
    generation = create(user, DEV, n=2, size="512x512")
    # Its worker was paid, could not store, spooled the bytes and was restarted.
    Generation.objects.filter(pk=generation.pk).update(
        upstream_sent_at=timezone.now() - timedelta(seconds=5), channel="modelverse"
    )
    paid = spool.Spooled([png_bytes(64, 64, "teal"), png_bytes(64, 64, "orange")], "modelverse", "")
    spool.spool_write(generation.pk, paid)

    generation = run_to_end(generation)

    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.images.count() == 2
    assert not sent(sim, "/v1/images/generations")
    assert spool.spool_read(generation.pk) is None
    quota = quota_status(user=user, model=DEV)
    assert (quota.used, quota.reserved) == (2, 0)
