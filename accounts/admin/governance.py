"""Group policies (retention, storage cap) in the admin (erasure: generations.admin_people)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.audit import audit_record
from accounts.models import GroupPolicy


@admin.register(GroupPolicy)
class GroupPolicyAdmin(admin.ModelAdmin):
    list_display = ["group", "retention_days", "storage_cap_mb"]
    search_fields = ["group__name"]

    def save_model(self, request: HttpRequest, obj: GroupPolicy, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        for field in [f for f in form.changed_data if f in ("retention_days", "storage_cap_mb")]:
            old = form.initial.get(field) if change else None
            audit_record(
                action="group policy",
                subject=f"group {obj.group.name}",
                target_type="group policy",
                target_id=obj.pk,
                group=obj.group,
                field=field,
                old=_policy_text(old),
                new=_policy_text(getattr(obj, field)),
            )


def _policy_text(value: object) -> str:
    return "inherit" if value is None else str(value)
