"""The portal's pages through Django's test client: what a person sees and can do."""

from __future__ import annotations

import datetime
import zipfile
from io import BytesIO
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from generations.models import Generation, Image
from tests.images import png_bytes
from tests.portal_helpers import FLUX_DEV, make_generation, next_page_url

pytestmark = pytest.mark.django_db

KONTEXT_T2I = "black-forest-labs/flux-kontext-pro/text-to-image"
KONTEXT_MULTI = "black-forest-labs/flux-kontext-pro/multi"
STEP1X = "stepfun-ai/step1x-edit"
KONTEXT_MAX = "black-forest-labs/flux-kontext-max"  # no free images in the catalog
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def signed_in(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


def _fields(client: Any, model: str) -> str:
    return client.get(reverse("generate_fields"), {"model": model}, **HTMX).content.decode()


# --- generate ---------------------------------------------------------------------


def test_it_shows_exactly_the_parameters_of_the_chosen_model(signed_in: Any) -> None:
    flux = _fields(signed_in, FLUX_DEV)
    assert 'name="size"' in flux
    assert 'name="n"' in flux
    assert 'name="strength"' in flux
    assert 'name="aspect_ratio"' not in flux
    assert 'name="negative_prompt"' not in flux
    assert 'value="1536x1536"' in flux
    assert 'value="512x512"' in flux

    t2i = _fields(signed_in, KONTEXT_T2I)
    assert 'name="aspect_ratio"' in t2i
    assert 'value="21:9"' in t2i
    assert 'name="size"' not in t2i
    assert 'name="image"' not in t2i

    multi = _fields(signed_in, KONTEXT_MULTI)
    assert 'name="images"' in multi
    assert "multiple" in multi
    assert 'name="n"' not in multi

    step1x = _fields(signed_in, STEP1X)
    assert 'name="negative_prompt"' in step1x
    assert 'name="image"' in step1x
    assert 'name="steps"' in step1x
    assert 'max="50"' in step1x


def test_it_shows_free_images_left_and_says_when_none(signed_in: Any, user: Any) -> None:
    page = signed_in.get(reverse("generate"), {"model": FLUX_DEV}).content.decode()
    assert "free images left of 10" in page
    empty = _fields(signed_in, KONTEXT_MAX)
    assert "No free images left for this model." in empty
    assert "disabled" in empty.split('type="submit"')[1].split(">")[0]


def test_it_queues_a_job_and_shows_it_at_once(
    signed_in: Any, enqueued: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            reverse("generate"),
            {
                "model": FLUX_DEV,
                "prompt": "a red kite over dunes",
                "n": "2",
                "size": "1024x768",
                "steps": "20",
                "guidance_scale": "3",
                "strength": "0.5",
                "seed": "",
            },
            **HTMX,
        )
    generation = Generation.objects.get()
    assert enqueued == [str(generation.pk)]
    assert generation.status == Generation.Status.QUEUED
    assert generation.params["size"] == "1024x768"
    assert generation.n == 2
    body = response.content.decode()
    assert 'hx-swap-oob="afterbegin:#jobs"' in body
    assert f'id="job-{generation.pk}"' in body
    assert "data-poll-url" in body
    assert "free images left of 10" in body
    assert "<strong>8</strong>" in body


def test_it_takes_a_reference_image_upload(signed_in: Any, enqueued: list[str]) -> None:
    upload = SimpleUploadedFile("ref.png", png_bytes(), content_type="image/png")
    signed_in.post(
        reverse("generate"), {"model": STEP1X, "prompt": "make it night", "image": upload}, **HTMX
    )
    generation = Generation.objects.get()
    assert generation.references.get().param == "image"


def test_it_shows_errors_beside_the_field_in_the_persons_language(
    signed_in: Any, enqueued: list[str]
) -> None:
    response = signed_in.post(
        reverse("generate"),
        {"model": STEP1X, "prompt": "night"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
        **HTMX,
    )
    body = response.content.decode()
    image_slot = body.split('id="err-image"')[1].split("</div>")[0]
    assert "添加一张图片" in image_slot
    assert Generation.objects.count() == 0
    assert enqueued == []

    response = signed_in.post(
        reverse("generate"),
        {"model": FLUX_DEV, "prompt": "x", "steps": "99"},
        HTTP_ACCEPT_LANGUAGE="en",
        **HTMX,
    )
    steps_slot = response.content.decode().split('id="err-steps"')[1].split("</div>")[0]
    assert "less than or equal to 50" in steps_slot


def test_it_renders_the_whole_page_with_errors_without_javascript(signed_in: Any) -> None:
    response = signed_in.post(reverse("generate"), {"model": FLUX_DEV, "prompt": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_it_prefills_the_form_to_reuse_settings(signed_in: Any, user: Any) -> None:
    generation = make_generation(
        user,
        prompt="harbour in fog",
        params={
            "n": 1,
            "size": "768x1024",
            "steps": 12,
            "seed": 777,
            "guidance_scale": 4.0,
            "strength": 0.8,
        },
    )
    same = signed_in.get(reverse("generate"), {"reuse": generation.pk, "seed": "same"})
    body = same.content.decode()
    assert "harbour in fog" in body
    assert 'value="777"' in body
    assert 'value="12"' in body
    assert 'value="768x1024" selected' in body
    fresh = signed_in.get(reverse("generate"), {"reuse": generation.pk, "seed": "new"})
    assert 'value="777"' not in fresh.content.decode()


# --- history gallery --------------------------------------------------------------


def test_it_pages_the_gallery_with_a_constant_number_of_queries(
    signed_in: Any, user: Any, django_assert_num_queries: Any
) -> None:
    for i in range(30):
        make_generation(user, images=2 if i % 2 else 1, prompt=f"prompt {i}")
    make_generation(user, status=Generation.Status.FAILED, prompt="failed one")
    # session + user + generations page + their images + the person's boards (the "Add
    # to board" picker), however many images a page holds
    with django_assert_num_queries(5):
        first = signed_in.get(reverse("gallery"))
    with django_assert_num_queries(4):
        second = signed_in.get(next_page_url(first), **HTMX)
    starred_first = signed_in.get(reverse("gallery"), {"starred": "first", "q": "prompt"})
    with django_assert_num_queries(5):  # a whole page again (no HX-Request): the picker too
        signed_in.get(next_page_url(starred_first))
    assert "prompt 30" not in first.content.decode()
    assert "failed one" in first.content.decode()  # newest first
    assert "prompt 0" in second.content.decode()
    assert 'hx-trigger="revealed"' in first.content.decode()
    assert "/thumbnail/" in first.content.decode()
    assert "/original/" not in first.content.decode()


def test_it_filters_and_searches_the_gallery(signed_in: Any, user: Any) -> None:
    fox = make_generation(user, prompt="a red fox in snow")
    make_generation(user, prompt="a blue whale", model=KONTEXT_T2I, source=Generation.Source.API)
    make_generation(user, prompt="queued kite", status=Generation.Status.QUEUED)
    old = make_generation(user, prompt="old lighthouse")
    Generation.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=40)
    )
    Image.objects.filter(generation=fox).update(starred=True)

    def shown(**params: str) -> str:
        return signed_in.get(reverse("gallery"), params).content.decode()

    assert "red fox" in shown(q="FOX")
    assert "blue whale" not in shown(q="fox")
    assert "blue whale" in shown(model=KONTEXT_T2I)
    assert "red fox" not in shown(model=KONTEXT_T2I)
    assert "queued kite" in shown(status="queued")
    assert "red fox" not in shown(status="queued")
    recent = (timezone.now() - datetime.timedelta(days=7)).date().isoformat()
    assert "old lighthouse" not in shown(date_from=recent)
    assert "red fox" in shown(date_from=recent)
    assert "old lighthouse" in shown(
        date_to=(timezone.now() - datetime.timedelta(days=30)).date().isoformat()
    )
    only = shown(starred="only")
    assert "red fox" in only
    assert "blue whale" not in only
    first = shown(starred="first")
    assert first.index("red fox") < first.index("queued kite")
    assert ">API<" in shown(q="whale")  # the source shows


# --- image detail and actions -----------------------------------------------------


def test_it_shows_everything_about_an_image(signed_in: Any, user: Any) -> None:
    generation = make_generation(user, prompt="a lighthouse", reference=True)
    image = generation.images.get()
    body = signed_in.get(reverse("image_detail", args=[image.pk])).content.decode()
    for text in [
        "a lighthouse",
        "FLUX.1 [dev]",
        "4242",
        "64 \u00d7 48",
        "Guidance scale",
        "2.5",
        reverse("image_file", args=[image.pk]),
        reverse("reference_file", args=[generation.references.get().pk]),
        'alt="a lighthouse"',
        "Copy prompt",
    ]:
        assert text in body, text


def test_it_names_the_api_key_an_api_generation_came_through(signed_in: Any, user: Any) -> None:
    from accounts.models import ApiKey

    key, _raw = ApiKey.objects.create_key(name="render farm", user=user)
    generation = make_generation(user, source=Generation.Source.API)
    Generation.objects.filter(pk=generation.pk).update(api_key=key)
    image = generation.images.get()
    body = signed_in.get(reverse("image_detail", args=[image.pk])).content.decode()
    assert f"API \u00b7 key \u201crender farm\u201d ({key.prefix}\u2026)" in body


def test_it_serves_the_original_for_download(signed_in: Any, user: Any) -> None:
    image = make_generation(user).images.get()
    response = signed_in.get(reverse("image_file", args=[image.pk]), {"download": "1"})
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == image.file.open("rb").read()


def test_it_stars_and_unstars_an_image(signed_in: Any, user: Any) -> None:
    image = make_generation(user).images.get()
    response = signed_in.post(reverse("image_star", args=[image.pk]), {"starred": "1"}, **HTMX)
    assert 'aria-pressed="true"' in response.content.decode()
    image.refresh_from_db()
    assert image.starred
    signed_in.post(reverse("image_star", args=[image.pk]), {"starred": "0"}, **HTMX)
    image.refresh_from_db()
    assert not image.starred


def test_it_deletes_an_image_with_its_file_and_thumbnail(
    signed_in: Any, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    image = make_generation(user, images=2).images.first()
    storage, names = image.file.storage, [image.file.name, image.thumbnail.name]
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("image_delete", args=[image.pk]))
    assert response.status_code == 302
    assert not Image.objects.filter(pk=image.pk).exists()
    assert not any(storage.exists(name) for name in names)


def test_it_zips_and_bulk_deletes_a_selection(signed_in: Any, user: Any) -> None:
    ids = [make_generation(user, prompt=f"p{i}").images.get().pk for i in range(3)]
    response = signed_in.post(reverse("images_bulk"), {"action": "zip", "image": ids[:2]})
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(BytesIO(b"".join(response.streaming_content)))
    assert len(archive.namelist()) == 2
    assert all(archive.read(name).startswith(b"\x89PNG") for name in archive.namelist())
    signed_in.post(reverse("images_bulk"), {"action": "delete", "image": ids[:2]})
    assert list(Image.objects.values_list("pk", flat=True)) == [ids[2]]


def test_it_hides_a_generation_whose_images_were_all_deleted(signed_in: Any, user: Any) -> None:
    generation = make_generation(user, prompt="gone soon")
    signed_in.post(reverse("image_delete", args=[generation.images.get().pk]))
    assert "gone soon" not in signed_in.get(reverse("gallery")).content.decode()


# --- language ---------------------------------------------------------------------


def test_it_speaks_the_browsers_language_and_switches_on_request(signed_in: Any) -> None:
    zh = signed_in.get(reverse("gallery"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert "历史记录" in zh
    assert 'lang="zh-hans"' in zh
    en = signed_in.get(reverse("gallery"), HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert "History" in en
    assert 'lang="en"' in en
    signed_in.post(reverse("set_language"), {"language": "zh-hans", "next": "/history/"})
    assert (
        "历史记录" in signed_in.get(reverse("gallery"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    )


def test_it_refreshes_every_running_tile_with_one_request(
    signed_in: Any, user: Any, other_user: Any
) -> None:
    running = make_generation(user, status=Generation.Status.RUNNING, prompt="still cooking")
    queued = make_generation(user, status=Generation.Status.QUEUED, prompt="waiting")
    foreign = make_generation(other_user, status=Generation.Status.RUNNING, prompt="not yours")
    page = signed_in.get(reverse("gallery")).content.decode()
    assert f'data-pending="{running.pk}"' in page
    assert f'data-pending="{queued.pk}"' in page
    assert 'hx-trigger="every' not in page  # no per-tile polling
    Generation.objects.filter(pk=running.pk).update(status=Generation.Status.SUCCEEDED)
    make_generation(user)  # gives this test an image file to attach
    image = Image.objects.get()
    Image.objects.filter(pk=image.pk).update(generation=running)
    ids = [running.pk, queued.pk, foreign.pk, "not-a-uuid"]
    body = signed_in.get(reverse("generation_tiles"), {"id": ids}).content.decode()
    assert reverse("image_detail", args=[image.pk]) in body
    assert f'id="gen-{running.pk}"' in body
    assert f'data-pending="{running.pk}"' not in body
    assert f'data-pending="{queued.pk}"' in body
    assert "not yours" not in body
