"""Account writes outside quota (quota writes live in accounts.quota)."""

from __future__ import annotations

from accounts.audit import audit_person
from accounts.models import User


def user_set_active(*, actor: User | None, user: User, active: bool) -> bool:
    """Deactivate (or reactivate) a person. Their history and quotas stay; their API keys
    stop working at once, because API authentication checks is_active on every request."""
    changed = User.objects.filter(pk=user.pk, is_active=not active).update(is_active=active)
    user.is_active = active
    if changed:
        audit_person(action="reactivated" if active else "deactivated", user=user, actor=actor)
    return changed == 1
