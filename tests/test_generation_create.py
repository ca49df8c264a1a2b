"""Creating a generation: bad input is refused whole, before any quota is spent."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from accounts.quota import quota_status
from common.errors import InvalidRequest, ModelNotFound
from generations.models import Generation
from generations.services import generation_create
from tests.images import data_url, png_bytes

DEV = "black-forest-labs/flux.1-dev"
KPRO = "black-forest-labs/flux-kontext-pro"
MULTI = "black-forest-labs/flux-kontext-pro/multi"
pytestmark = pytest.mark.django_db

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
HTML = b"<!doctype html><html><body>not an image</body></html>"


def _refused(user: Any, enqueued: list, **kwargs: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        generation_create(user=user, prompt=kwargs.pop("prompt", "x"), **kwargs)
    assert enqueued == []
    assert Generation.objects.count() == 0
    status = quota_status(user=user, model=kwargs["model"])
    assert (status.used, status.reserved) == (0, 0)
    return info.value


def test_it_queues_a_valid_request_on_commit_and_keeps_its_references(
    user: Any, enqueued: list, django_capture_on_commit_callbacks: Any
) -> None:
    images = [png_bytes(40, 30), data_url(png_bytes(20, 10, fmt="WEBP"), "image/webp")]
    with django_capture_on_commit_callbacks(execute=True):
        generation = generation_create(
            user=user, model=MULTI, prompt="merge", params={}, images={"images": images}
        )
    assert enqueued == [str(generation.pk)]
    refs = list(generation.references.order_by("position"))
    assert [(r.width, r.height, r.format) for r in refs] == [(40, 30, "PNG"), (20, 10, "WEBP")]
    assert quota_status(user=user, model=MULTI).reserved == 1


def test_a_request_refused_its_quota_keeps_no_reference_files(
    user: Any, enqueued: list, settings: Any
) -> None:
    from pathlib import Path

    from accounts.quota import quota_set_limit
    from common.errors import QuotaExceeded

    quota_set_limit(user=user, model=MULTI, limit=0)
    images = [png_bytes(40, 30), png_bytes(20, 10)]
    with pytest.raises(QuotaExceeded):
        generation_create(
            user=user, model=MULTI, prompt="merge", params={}, images={"images": images}
        )
    assert enqueued == []
    assert Generation.objects.count() == 0
    assert [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("payload", [SVG, HTML, b"GIF89a" + b"\x00" * 20])
def test_it_refuses_a_non_image_named_png(user: Any, enqueued: list, payload: bytes) -> None:
    error = _refused(user, enqueued, model=KPRO, params={}, images={"image": [payload]})
    assert error.param == "image"


def test_it_refuses_an_svg_data_url(user: Any, enqueued: list) -> None:
    error = _refused(
        user, enqueued, model=KPRO, params={}, images={"image": [data_url(SVG, "image/png")]}
    )
    assert error.param == "image"


def test_it_refuses_an_oversize_image(user: Any, enqueued: list, settings: Any) -> None:
    settings.DARKROOM_MAX_IMAGE_BYTES = 1000
    error = _refused(user, enqueued, model=KPRO, params={}, images={"image": [png_bytes(400, 400)]})
    assert error.param == "image"


def test_it_refuses_a_private_address_url(user: Any, enqueued: list) -> None:
    error = _refused(
        user,
        enqueued,
        model=KPRO,
        params={},
        images={"image": ["http://169.254.169.254/latest/meta-data/"]},
    )
    assert error.param == "image"


def test_it_refuses_a_bad_parameter_without_touching_quota(user: Any, enqueued: list) -> None:
    error = _refused(user, enqueued, model=DEV, params={"size": "2048x2048"})
    assert error.param == "size"


def test_it_refuses_an_unknown_model(user: Any, enqueued: list) -> None:
    with pytest.raises(ModelNotFound):
        generation_create(user=user, model="nope/nope", prompt="x", params={})
    assert enqueued == []


def test_it_sends_the_run_task_to_celery_when_the_transaction_commits(
    user: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from generations.tasks import run_generation

    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(run_generation, "apply_async", lambda args, **kw: sent.append(args))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        generation = generation_create(user=user, model=DEV, prompt="a kite", params={})
    assert sent == []  # nothing leaves before the row is committed
    for callback in callbacks:
        callback()
    assert sent == [(str(generation.pk), None, 0)]  # step 0: the first step


def test_a_process_that_only_sets_django_up_queues_jobs() -> None:
    # The web process never imports generations.tasks itself: the app's ready() must.
    code = (
        "import django; django.setup(); "
        "from celery import current_app; "
        "from generations.publishing import RUN_TASK; "
        "print(RUN_TASK in current_app.tasks)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "True"
