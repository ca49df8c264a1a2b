from __future__ import annotations

import datetime
from typing import Any

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from django.utils.translation import gettext

from generations.models import Generation, Image
from generations.portal.forms import param_label as _param_label
from generations.portal.text import failure_text
from providers.labels import model_label as _model_label

register = template.Library()


@register.simple_tag
def live_stream_attrs() -> SafeString:
    """The body's pointer to the live stream, with the moment the page was rendered:
    the first stream starts there, so a change between render and connect is kept."""
    if not settings.DARKROOM_PORTAL_LIVE:
        return format_html("")
    since = f"{timezone.now().timestamp():.6f}"
    return format_html(' data-live-url="{}" data-live-since="{}"', reverse("live_stream"), since)


@register.simple_tag
def image_src(image: Image, kind: str = "thumbnail") -> str:
    """Where the browser loads an image: a signed S3 URL, or our authorised view.

    Signing is local computation (no request to S3), so a page of thumbnails
    costs no extra queries either way.
    """
    if settings.STORAGE_BACKEND == "s3":
        field = image.thumbnail if kind == "thumbnail" and image.thumbnail else image.file
        return str(field.storage.url(field.name))
    name = "image_thumbnail" if kind == "thumbnail" else "image_file"
    return reverse(name, args=[image.pk])


@register.filter
def param_label(name: str) -> str:
    return _param_label(name)


@register.filter
def failure_reason(generation: Generation) -> str:
    return failure_text(generation)


@register.filter
def duration(seconds: Any) -> str:
    if seconds is None:
        return "\u2013"
    seconds = float(seconds)
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


@register.simple_tag
def elapsed(start: Any, end: Any) -> float | None:
    if not start or not end:
        return None
    return float((end - start).total_seconds())


@register.filter
def filesize(num: int) -> str:
    for unit in ("B", "KB", "MB"):
        if num < 1024:
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num = num / 1024  # type: ignore[assignment]
    return f"{num:.1f} GB"


@register.filter
def model_label(name: str) -> str:
    return _model_label(name)


@register.filter
def ratio_css(choice: str) -> str:
    """'16:9' -> '16 / 9', for CSS aspect-ratio on the ratio preset swatches."""
    w, _, h = str(choice).partition(":")
    return f"{w} / {h}" if w.isdigit() and h.isdigit() else "1 / 1"


@register.filter
def bound(form: Any, name: str) -> Any:
    return form[name]


@register.filter
def url_field_of(form: Any, name: str) -> Any:
    return form[f"{name}_url"]


@register.filter
def ago(moment: datetime.datetime | None) -> str:
    """'just now' under a minute (timesince would say '0 minutes'), else '5 minutes ago'."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return gettext("just now")
    return gettext("%(time)s ago") % {"time": timesince(moment, depth=1)}


@register.simple_tag
def signup_policy() -> str:
    return str(settings.DARKROOM_SIGNUP)
