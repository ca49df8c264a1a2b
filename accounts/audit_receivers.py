"""Audit entries for things Django signals: sign-ins, failed sign-ins, admin edits of
channels, people and groups (group membership included). Our own code writes its
entries by calling accounts.audit, never through a signal of its own."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.audit import audit_person, audit_record
from accounts.models import User

_ADMIN_VERBS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def _signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    audit_person(action="signed in", user=user, actor=user)


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def _sign_in_failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))  # Django masks the password already
    audit_record(
        action="sign-in failed",
        subject=username,
        actor=None,
        target_type="person",
        user=User.objects.filter(username=username).first(),
    )


# Admin edits that join the audit log: (app, model) -> what the entry calls the target.
# Group policies and quotas are audited by their own code, with from/to values.
_ADMIN_TARGETS = {
    ("providers", "channel"): "channel",
    ("providers", "channelmodel"): "channel",
    ("accounts", "user"): "person",
    ("auth", "group"): "group",
}


@receiver(user_locked_out, dispatch_uid="audit_lockout")
def _locked_out(sender: Any, username: str | None = None, **kwargs: Any) -> None:
    audit_record(
        action="locked out",
        subject=str(username or ""),
        actor=None,
        target_type="person",
        user=User.objects.filter(username=username).first() if username else None,
        detail={"address": kwargs.get("ip_address")},
    )


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_edits")
def _admin_edit(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """The admin logs every add/change/delete form; channels, people and groups join."""
    if not created or instance.content_type is None:
        return
    ct = instance.content_type
    target = _ADMIN_TARGETS.get((ct.app_label, ct.model))
    if target is None:
        return
    audit_record(
        action=f"{target} {_ADMIN_VERBS.get(instance.action_flag, 'edited')}",
        subject=instance.object_repr,
        target_type=target if ct.model != "channelmodel" else "served model",
        target_id=instance.object_id or "",
        detail={"changes": instance.get_change_message()},
    )
