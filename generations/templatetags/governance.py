"""Template tags for retention on the image page."""

from __future__ import annotations

from datetime import datetime

from django import template

from generations.models import Image
from generations.retention import removal_date as _removal_date

register = template.Library()


@register.simple_tag
def removal_date(image: Image) -> datetime | None:
    return _removal_date(image)
