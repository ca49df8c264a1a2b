"""Group policies (retention, storage cap) and erasure requests in the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

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
