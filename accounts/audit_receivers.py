"""Audit entries for things Django signals: sign-ins, failed sign-ins, channel edits."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest

from .audit import audit_record
from .models import User

_ADMIN_VERBS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def _signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    audit_record(
        action="signed in",
        subject=user.get_username(),
        actor=user,
        target_type="person",
        target_id=user.pk,
        user=user,
    )


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


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_channel_edits")
def _admin_edit(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """The admin logs every add/change/delete; channel ones join the audit log."""
    if not created or instance.content_type is None:
        return
    if instance.content_type.app_label != "providers":
        return
    audit_record(
        action=f"channel {_ADMIN_VERBS.get(instance.action_flag, 'edited')}",
        subject=instance.object_repr,
        target_type=instance.content_type.model,
        target_id=instance.object_id or "",
        detail={"changes": instance.get_change_message()},
    )
