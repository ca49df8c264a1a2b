"""Writing the one audit log (AuditEntry). Every write goes through `audit_record`.

The acting person and their address come from the request being served
(accounts.audit_context) unless the caller names the actor; outside a request
(worker, beat, management commands) the actor is the system.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group

from accounts.audit_context import current_ip, current_user
from accounts.models import AuditEntry, User

_FROM_REQUEST: Any = object()


def audit_record(
    *,
    action: str,
    subject: str,
    actor: User | None = _FROM_REQUEST,
    target_type: str = "",
    target_id: Any = "",
    user: User | None = None,
    group: Group | None = None,
    model: str = "",
    field: str = "",
    old: str = "",
    new: str = "",
    detail: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    if actor is _FROM_REQUEST:
        actor = current_user()
    return AuditEntry.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        user=user,
        group=group,
        subject=subject[:200],
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:64],
        model=model,
        field=field,
        old_value=old[:100],
        new_value=new[:100],
        detail=detail or {},
        reason=reason,
        ip=current_ip(),
    )


def audit_channels(channels: Iterable[Any], action: str) -> None:
    """Bulk channel switches in the admin (their edits arrive through the admin's log)."""
    for channel in channels:
        audit_record(
            action=action, subject=str(channel), target_type="channel", target_id=channel.pk
        )


def audit_person(
    *,
    action: str,
    user: User,
    actor: User | None = _FROM_REQUEST,
    subject: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """An entry about one person (`subject`: their name, unless it is about to change)."""
    return audit_record(
        action=action,
        subject=subject or user.get_username(),
        actor=actor,
        target_type="person",
        target_id=user.pk,
        user=user,
        reason=reason,
        detail=detail,
    )


def audit_sso_groups(*, user: User, joined: list[str], left: list[str]) -> None:
    """Group memberships the identity provider's groups claim changed at a sign-in."""
    detail = {"joined": joined, "left": left}
    audit_person(action="sso groups", user=user, actor=None, detail=detail)
