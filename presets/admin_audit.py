"""Staff edits in the admin of things people own (boards, presets): each one is audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from accounts.audit import audit_record
from accounts.models import User


class AuditedOwnedAdmin(admin.ModelAdmin):
    """Only staff holding the model's change permission reach these; the owner is
    still the owner, and every change or deletion is in the audit log."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _audit(request, obj, "edited by staff" if change else "created by staff", form)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        _audit(request, obj, "deleted by staff", None)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # The list's "delete selected" action deletes in bulk, never via delete_model.
        with transaction.atomic():
            for obj in queryset.select_related("owner"):
                _audit(request, obj, "deleted by staff", None)
            super().delete_queryset(request, queryset)


def _audit(request: HttpRequest, obj: Model, action: str, form: Any) -> None:
    kind = obj._meta.model_name or ""
    owner: User = obj.owner  # type: ignore[attr-defined]
    audit_record(
        action=f"{kind} {action}",
        subject=f"{kind} {obj}",
        actor=request.user if isinstance(request.user, User) else None,
        target_type=kind,
        target_id=obj.pk,
        user=owner,
        detail={"changed": list(form.changed_data) if form is not None else []},
    )
