"""Group policies (retention, storage cap) and erasure requests in the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..audit import audit_record
from ..erasure import erase_person
from ..models import ErasureRequest, GroupPolicy, User
from .forms import acting_user


def erase_people(request: HttpRequest, people: list[User]) -> None:
    """The staff action: erase each person's data (never one's own account)."""
    people = [p for p in people if p.pk != request.user.pk]
    images = sum(
        erase_person(actor=acting_user(request), user=p, reason="erased in the admin").images
        for p in people
    )
    messages.success(request, f"Erased the data of {len(people)} people ({images} images removed).")


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


@admin.register(ErasureRequest)
class ErasureRequestAdmin(admin.ModelAdmin):
    list_display = ["user", "requested_at", "done_at"]
    list_filter = [("done_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["user", "requested_at", "done_at"]
    actions = ["erase"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(
        description=_("Erase their data (files, keys; anonymised history stays)"),
        permissions=["change"],
    )
    def erase(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> Any:
        erase_people(request, [r.user for r in queryset.filter(done_at__isnull=True)])
