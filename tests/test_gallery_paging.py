"""The gallery's keyset paging: following "load more" shows every generation once, in order."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from generations.models import Generation, Image
from tests.portal_helpers import FLUX_DEV, next_page_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


def _jobs(user: Any, count: int, *, same_moment: bool = False) -> list[Generation]:
    """Succeeded generations with one image each, newest last; ties when `same_moment`."""
    now = timezone.now()
    made = Generation.objects.bulk_create(
        Generation(
            user=user,
            model=FLUX_DEV,
            prompt=f"job-{i:03d}-end",
            status=Generation.Status.SUCCEEDED,
        )
        for i in range(count)
    )
    for i, generation in enumerate(made):
        moment = now if same_moment else now - datetime.timedelta(minutes=count - i)
        Generation.objects.filter(pk=generation.pk).update(created_at=moment)
    Image.objects.bulk_create(
        Image(generation=g, file="images/x.png", width=8, height=8, format="PNG", bytes=1)
        for g in made
    )
    return made


def _walk(client: Any, url: str) -> list[str]:
    """Every prompt shown, page after page, as the infinite scroll loads them."""
    shown: list[str] = []
    response = client.get(url)
    while True:
        shown += re.findall(r'alt="(job-\d+-end)"', response.content.decode())
        if 'hx-trigger="revealed"' not in response.content.decode():
            return shown
        response = client.get(next_page_url(response), HTTP_HX_REQUEST="true")


def test_it_shows_every_generation_once_newest_first(signed_in: Any, user: Any) -> None:
    made = _jobs(user, 60)
    shown = _walk(signed_in, reverse("gallery"))
    assert shown == [g.prompt for g in reversed(made)]


def test_it_pages_through_generations_made_in_the_same_instant(signed_in: Any, user: Any) -> None:
    made = _jobs(user, 55, same_moment=True)
    shown = _walk(signed_in, reverse("gallery"))
    assert sorted(shown) == sorted(g.prompt for g in made)
    assert len(shown) == len(set(shown))


def test_it_keeps_starred_first_across_pages(signed_in: Any, user: Any) -> None:
    made = _jobs(user, 60)
    starred = {g.prompt for g in made[::2]}  # more than a page
    Image.objects.filter(generation__prompt__in=starred).update(starred=True)
    shown = _walk(signed_in, reverse("gallery") + "?starred=first")
    assert set(shown[: len(starred)]) == starred
    assert sorted(shown) == sorted(g.prompt for g in made)
    assert len(shown) == len(set(shown))


def test_it_keeps_the_filters_on_the_next_page(signed_in: Any, user: Any) -> None:
    made = _jobs(user, 40)
    Generation.objects.filter(pk__in=[g.pk for g in made[:30]]).update(model="other/model")
    shown = _walk(signed_in, reverse("gallery") + f"?model={FLUX_DEV}")
    assert shown == [g.prompt for g in reversed(made[30:])]


def test_it_starts_over_on_a_damaged_cursor(signed_in: Any, user: Any) -> None:
    made = _jobs(user, 30)
    body = signed_in.get(reverse("gallery"), {"after": "1-nonsense-zz", "page": 2}).content
    assert made[-1].prompt in body.decode()


def test_it_hides_succeeded_generations_whose_images_were_all_deleted(
    signed_in: Any, user: Any
) -> None:
    kept, emptied = _jobs(user, 2)
    Image.objects.filter(generation=emptied).delete()
    failed = Generation.objects.create(
        user=user, model=FLUX_DEV, prompt="failed-one", status=Generation.Status.FAILED
    )
    body = signed_in.get(reverse("gallery")).content.decode()
    assert kept.prompt in body
    assert failed.prompt in body
    assert emptied.prompt not in body


def test_it_asks_the_same_number_of_queries_for_a_long_history(
    signed_in: Any, user: Any, django_assert_num_queries: Any
) -> None:
    _jobs(user, 30)
    # session, user, the page's generations, their images, the "Add to board" picker
    with django_assert_num_queries(5):
        short = signed_in.get(reverse("gallery"))
    _jobs(user, 300)
    with django_assert_num_queries(5):
        long = signed_in.get(reverse("gallery"))
    with django_assert_num_queries(5):
        signed_in.get(next_page_url(long))
    assert short.status_code == long.status_code == 200
