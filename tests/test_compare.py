""" "Compare" through Django's test client: each chosen model gets its own settings, as
its catalog entry allows them, and the reference images where it takes them."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.quota import quota_status
from generations.models import Generation
from generations.portal.compare import params_prefix
from providers.catalog import get_catalog
from tests.images import data_url, png_bytes
from tests.portal_helpers import FLUX_DEV

pytestmark = pytest.mark.django_db

KONTEXT = "black-forest-labs/flux-kontext-pro"  # one reference image, required
KONTEXT_MULTI = "black-forest-labs/flux-kontext-pro/multi"  # 1-4 reference images, required
KONTEXT_T2I = "black-forest-labs/flux-kontext-pro/text-to-image"  # aspect ratio, no references
SCHNELL = "black-forest-labs/flux-schnell"  # no free images in the catalog
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


@pytest.fixture
def alice(django_user_model: Any) -> User:
    return django_user_model.objects.create_user("alice", "alice@ex.com", "pw-1234567")


@pytest.fixture
def client_(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def _field(model: str, name: str) -> str:
    return f"{params_prefix(model)}-{name}"


def _post(client: Client, models: list[str], **extra: Any) -> Any:
    data = {"prompt": "a lighthouse at dusk", "models": models, **extra}
    return client.post(reverse("compare"), data)


def _text(html: bytes) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode())))


def _column(page: str, model: str) -> str:
    """One result column of the comparison page."""
    return page.split(f'data-model="{model}"', 1)[1].split("</section>", 1)[0]


def _panel(page: str, model: str) -> str:
    """One model's settings in the compare form."""
    return page.split(f'data-params-for="{model}"', 1)[1].split("data-params-for=", 1)[0]


def _upload(name: str = "ref.png", color: str = "teal") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(24, 24, color), content_type="image/png")


def test_it_shows_each_models_own_settings_with_the_catalogs_defaults(client_: Client) -> None:
    page = client_.get(reverse("compare")).content.decode()
    flux = _panel(page, FLUX_DEV)
    assert re.search(rf'name="{_field(FLUX_DEV, "size")}"', flux)
    assert re.search(r'<option value="1024x1024" selected>', flux)
    assert "2048x2048" not in flux  # above its 1536 px
    assert re.search(rf'name="{_field(FLUX_DEV, "steps")}"[^>]*value="28"', flux)
    assert "Takes reference images." in flux
    t2i = _panel(page, KONTEXT_T2I)
    assert _field(KONTEXT_T2I, "size") not in t2i  # it takes an aspect ratio instead
    assert re.search(rf'name="{_field(KONTEXT_T2I, "aspect_ratio")}" value="1:1"[^>]*checked', t2i)
    assert "Takes no reference images" in t2i
    assert re.search(rf'name="{_field(SCHNELL, "steps")}"[^>]*value="4"', _panel(page, SCHNELL))
    schnell = page.split(f'data-model="{SCHNELL}"', 1)[1].split("</label>", 1)[0]
    assert "no free images left" in schnell


def test_each_model_runs_with_its_own_settings(
    client_: Client, alice: User, enqueued: list[str]
) -> None:
    answer = _post(
        client_,
        [FLUX_DEV, KONTEXT_T2I],
        **{
            _field(FLUX_DEV, "size"): "768x1024",
            _field(FLUX_DEV, "n"): "2",
            _field(FLUX_DEV, "steps"): "30",
            _field(KONTEXT_T2I, "aspect_ratio"): "16:9",
            _field(KONTEXT_T2I, "n"): "1",
            # a model not chosen: its settings are not looked at
            _field(KONTEXT, "guidance_scale"): "nonsense",
        },
    )
    assert answer.status_code == 302
    flux = Generation.objects.get(model=FLUX_DEV)
    assert (flux.params["size"], flux.n, flux.params["steps"]) == ("768x1024", 2, 30)
    t2i = Generation.objects.get(model=KONTEXT_T2I)
    assert (t2i.params["aspect_ratio"], t2i.n) == ("16:9", 1)
    assert "size" not in t2i.params
    assert quota_status(user=alice, model=FLUX_DEV).reserved == 2  # its own quota, its own n
    assert quota_status(user=alice, model=KONTEXT_T2I).reserved == 1
    page = client_.get(answer["Location"]).content.decode()
    assert "768 \u00d7 1024" in _column(page, FLUX_DEV)
    assert "16:9" in _column(page, KONTEXT_T2I)


def test_a_size_the_model_does_not_allow_refuses_that_model_and_the_others_go(
    client_: Client, alice: User, enqueued: list[str]
) -> None:
    answer = _post(
        client_,
        [FLUX_DEV, KONTEXT_T2I],
        **{_field(FLUX_DEV, "size"): "2048x2048", _field(KONTEXT_T2I, "aspect_ratio"): "4:3"},
    )
    assert answer.status_code == 302
    assert list(Generation.objects.values_list("model", flat=True)) == [KONTEXT_T2I]
    assert quota_status(user=alice, model=FLUX_DEV).reserved == 0
    page = client_.get(answer["Location"]).content.decode()
    refused = _text(_column(page, FLUX_DEV).encode())
    assert "compare-refused" in page
    assert "Size: This model does not allow 2048x2048." in refused


def test_a_value_out_of_a_models_range_is_its_own_error(
    client_: Client, enqueued: list[str]
) -> None:
    # schnell's steps stop at 4 (its override); flux.1-dev's go to 50.
    answer = _post(
        client_,
        [FLUX_DEV, KONTEXT_T2I],
        **{_field(FLUX_DEV, "steps"): "80", _field(KONTEXT_T2I, "n"): "9"},
    )
    page = _text(client_.get(answer["Location"]).content)
    assert "Steps: Ensure this value is less than or equal to 50." in page
    assert "Number of images: This model does not allow 9." in page
    assert not Generation.objects.exists()


def test_the_refusal_is_in_chinese_for_a_chinese_reader(
    client_: Client, enqueued: list[str]
) -> None:
    answer = client_.post(
        reverse("compare"),
        {
            "prompt": "灯塔",
            "models": [FLUX_DEV, KONTEXT_T2I],
            _field(FLUX_DEV, "size"): "2048x2048",
        },
        **ZH,
    )
    page = _text(client_.get(answer["Location"], **ZH).content)
    assert "尺寸\uff1a此模型不允许 2048x2048。" in page


def test_an_uploaded_reference_goes_to_the_models_that_take_one(
    client_: Client, enqueued: list[str]
) -> None:
    answer = _post(client_, [FLUX_DEV, KONTEXT_MULTI, KONTEXT_T2I], images=[_upload()])
    assert answer.status_code == 302
    refs = {
        g.model: [(r.param, r.width) for r in g.references.all()]
        for g in Generation.objects.prefetch_related("references")
    }
    assert refs == {FLUX_DEV: [("image", 24)], KONTEXT_MULTI: [("images", 24)], KONTEXT_T2I: []}
    page = client_.get(answer["Location"]).content.decode()
    assert "This model takes no reference images: it got the prompt only." in _column(
        page, KONTEXT_T2I
    )
    assert "compare-note" not in _column(page, FLUX_DEV)


def test_several_references_a_one_image_model_takes_the_first_and_says_so(
    client_: Client, enqueued: list[str]
) -> None:
    pasted = data_url(png_bytes(40, 40, "navy"))
    answer = _post(
        client_,
        [KONTEXT, KONTEXT_MULTI],
        images=[_upload("a.png", "red"), _upload("b.png", "green")],
        images_url=pasted,
    )
    assert answer.status_code == 302
    one = Generation.objects.get(model=KONTEXT).references.get()
    assert (one.param, one.width) == ("image", 24)
    several = Generation.objects.get(model=KONTEXT_MULTI).references.order_by("position")
    assert [r.width for r in several] == [24, 24, 40]
    page = _text(client_.get(answer["Location"]).content)
    assert "This model takes 1 reference image: it got the first of your 3." in page


def test_a_model_that_needs_a_reference_says_so_when_none_is_given(
    client_: Client, enqueued: list[str]
) -> None:
    answer = _post(client_, [KONTEXT, FLUX_DEV])
    assert list(Generation.objects.values_list("model", flat=True)) == [FLUX_DEV]
    page = _text(client_.get(answer["Location"]).content)
    assert "Add an image: upload one or paste its URL." in page


def test_a_file_that_is_not_an_image_stops_the_whole_comparison(
    client_: Client, enqueued: list[str]
) -> None:
    junk = SimpleUploadedFile("notes.png", b"not an image at all", content_type="image/png")
    answer = _post(client_, [FLUX_DEV, KONTEXT_MULTI], images=[junk])
    assert answer.status_code == 400
    assert "This image can&#x27;t be used. Try a PNG, JPEG or WebP file." in answer.content.decode()
    assert not Generation.objects.exists()
    assert enqueued == []


def test_more_references_than_any_model_takes_is_refused(
    client_: Client, enqueued: list[str]
) -> None:
    answer = _post(client_, [FLUX_DEV, KONTEXT_MULTI], images=[_upload() for _ in range(5)])
    assert answer.status_code == 400
    assert "Add between 1 and 4 images." in answer.content.decode()
    assert not Generation.objects.exists()


def test_every_model_has_its_own_settings_prefix() -> None:
    names = get_catalog().names()
    assert len({params_prefix(n) for n in names}) == len(names)


def test_a_form_sent_back_keeps_the_chosen_models_and_their_settings(
    client_: Client, enqueued: list[str]
) -> None:
    answer = _post(client_, [FLUX_DEV], **{_field(FLUX_DEV, "size"): "768x768"})
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "Choose 2 to 4 models." in page
    assert re.search(rf'class="compare-panel is-chosen" data-params-for="{FLUX_DEV}"', page)
    assert re.search(r'<option value="768x768" selected>', _panel(page, FLUX_DEV))
    assert not re.search(rf'is-chosen" data-params-for="{KONTEXT_T2I}"', page)
