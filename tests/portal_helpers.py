"""Generations with real stored images, made directly (no upstream), for portal tests."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from typing import Any

from django.core.files.base import ContentFile
from django.urls import reverse

from generations.models import Generation, Image, ReferenceImage
from generations.spend.models import Budget, BudgetAlert, ModerationRefusal
from tests.images import png_bytes

FLUX_DEV = "black-forest-labs/flux.1-dev"


def make_generation(
    user: Any,
    *,
    images: int = 1,
    status: str = Generation.Status.SUCCEEDED,
    prompt: str = "a lighthouse at dusk",
    model: str = FLUX_DEV,
    params: dict[str, Any] | None = None,
    source: str = Generation.Source.PORTAL,
    reference: bool = False,
) -> Generation:
    generation = Generation.objects.create(
        user=user,
        model=model,
        prompt=prompt,
        status=status,
        n=max(images, 1),
        quota_used=images if status == Generation.Status.SUCCEEDED else 0,
        source=source,
        params=params
        if params is not None
        else {
            "n": max(images, 1),
            "size": "1024x1024",
            "steps": 28,
            "seed": 4242,
            "guidance_scale": 2.5,
            "strength": 0.8,
        },
    )
    for index in range(images if status == Generation.Status.SUCCEEDED else 0):
        image = Image(
            generation=generation,
            index=index,
            width=64,
            height=48,
            format="PNG",
            bytes=100,
            sha256="0" * 64,
        )
        image.file.save("image.png", ContentFile(png_bytes(64, 48, "orange")), save=False)
        image.thumbnail.save(
            "thumb.webp", ContentFile(png_bytes(16, 12, "orange", "WEBP")), save=False
        )
        image.save()
    if reference:
        ref = ReferenceImage(
            generation=generation,
            param="image",
            position=0,
            width=32,
            height=32,
            format="PNG",
            bytes=10,
            sha256="1" * 64,
        )
        ref.file.save("ref.png", ContentFile(png_bytes()), save=False)
        ref.save()
    return generation


def backdated_generation(
    user: Any, model: str, status: str, at: str, *, images: int = 0, channel: str = "modelverse"
) -> Generation:
    """A finished generation (with stub image rows) dated `at`, for report numbers."""
    generation = Generation.objects.create(
        user=user,
        model=model,
        status=status,
        channel=channel,
        n=max(images, 1),
        quota_used=images if status == Generation.Status.SUCCEEDED else 0,
    )
    Generation.objects.filter(pk=generation.pk).update(created_at=at)
    for index in range(images):
        image = Image.objects.create(
            generation=generation,
            index=index,
            file="images/x.png",
            width=8,
            height=8,
            format="PNG",
            bytes=1,
            sha256="0" * 64,
        )
        Image.objects.filter(pk=image.pk).update(created_at=at)
    return generation


_LOAD_MORE = re.compile(r'hx-get="([^"]+)"[^>]*hx-trigger="revealed"')


def alert_and_refusal(group: Any, person: Any) -> tuple[BudgetAlert, ModerationRefusal]:
    """A budget alert of `group` and a moderation refusal of `person`: a row in each of the
    admin's spend lists, so their change forms can be opened."""
    budget = Budget.objects.create(group=group, monthly=100)
    alert = BudgetAlert.objects.create(
        budget=budget,
        period_start=date(2026, 12, 1),
        threshold=50,
        spent=50,
        limit=100,
        currency="USD",
    )
    refusal = ModerationRefusal.objects.create(
        user=person,
        username=person.username,
        model=FLUX_DEV,
        policy="p",
        prompt_sha256="0" * 64,
        source="term",
    )
    return alert, refusal


def next_page_url(response: Any) -> str:
    """The gallery's "load more" link in a page, as the infinite scroll follows it."""
    found = _LOAD_MORE.search(response.content.decode())
    assert found, "the page has no next page"
    return reverse("gallery") + unescape(found.group(1))
