"""The audit log's actions and target types in the reader's language.

Entries keep them in English (the CSV export and searches read them as stored); pages
show them through these tables. An action missing here shows as stored.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "signed in": _("signed in"),
    "sign-in failed": _("sign-in failed"),
    "locked out": _("locked out"),
    "two-factor on": _("two-factor on"),
    "two-factor off": _("two-factor off"),
    "key created": _("key created"),
    "key revoked": _("key revoked"),
    "key cap": _("key cap changed"),
    "deactivated": _("deactivated"),
    "reactivated": _("reactivated"),
    "erased": _("erased"),
    "erasure requested": _("erasure requested"),
    "image deleted": _("image deleted"),
    "retention purge": _("retention purge"),
    "sso groups": _("groups from single sign-on"),
    "grant": _("quota granted"),
    "set unlimited": _("set unlimited"),
    "clear unlimited": _("unlimited cleared"),
    "reset used": _("used count reset"),
    "refund": _("refund"),
    "period reset": _("period reset"),
    "pool": _("group pool changed"),
    "group policy": _("group policy changed"),
    "edit": _("quota changed"),
    "channel switched on": _("channel switched on"),
    "channel switched off": _("channel switched off"),
    "channel added": _("channel added"),
    "channel changed": _("channel changed"),
    "channel deleted": _("channel deleted"),
    "person added": _("person added"),
    "person changed": _("person changed"),
    "person deleted": _("person deleted"),
    "group added": _("group added"),
    "group changed": _("group changed"),
    "group deleted": _("group deleted"),
}
TARGET_LABELS = {
    "person": _("person"),
    "quota": _("quota"),
    "api key": _("API key"),
    "image": _("image"),
    "channel": _("channel"),
    "served model": _("served model"),
    "group": _("group"),
    "group policy": _("group policy"),
    "group pool": _("group pool"),
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def target_label(target_type: str) -> str:
    return str(TARGET_LABELS.get(target_type, target_type))
