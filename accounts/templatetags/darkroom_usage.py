"""`{% usage_table user %}`: the person's own usage table, for any page (the account page)."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.quota import usage_for_user
from providers.labels import model_label

register = template.Library()


@register.inclusion_tag("accounts/_usage.html")
def usage_table(user: Any, heading: bool = True) -> dict[str, Any]:
    """`heading=False` where the page's own title already says "Your usage"."""
    rows = usage_for_user(user) if user.is_authenticated else []
    return {"usage": [(row, model_label(row.model)) for row in rows], "heading": heading}
