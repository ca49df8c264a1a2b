"""`{% usage_table user %}`: the person's own usage table, for any page (the account page)."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.quota import usage_for_user

register = template.Library()


@register.inclusion_tag("accounts/_usage.html")
def usage_table(user: Any) -> dict[str, Any]:
    return {"usage": usage_for_user(user) if user.is_authenticated else []}
