"""The audit log in the admin: read-only, filterable, exportable as CSV."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import AuditEntry
from .forms import CatalogModelFilter

CSV_COLUMNS = [
    "at",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "subject",
    "model",
    "field",
    "old_value",
    "new_value",
    "detail",
    "reason",
    "ip",
]


def audit_csv(entries: QuerySet[AuditEntry]) -> HttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="darkroom-audit-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for entry in entries.order_by("at", "id").iterator():
        row = [getattr(entry, column) for column in CSV_COLUMNS]
        row[0] = entry.at.isoformat()
        row[1] = entry.actor_name or "system"
        writer.writerow(["" if value is None else value for value in row])
    return response


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: admins with view permission read it; nobody adds, edits or deletes."""

    list_display = [
        "at",
        "actor_label",
        "action",
        "target_type",
        "subject",
        "model",
        "field",
        "old_value",
        "new_value",
        "reason",
        "ip",
    ]
    list_filter = [
        "action",
        "target_type",
        CatalogModelFilter,
        "field",
        ("at", admin.DateFieldListFilter),
    ]
    search_fields = ["subject", "actor_name", "model", "reason", "target_id", "ip"]
    date_hierarchy = "at"
    actions = ["export_csv"]

    @admin.display(description=_("changed by"), ordering="actor_name")
    def actor_label(self, obj: AuditEntry) -> str:
        return obj.actor_name or "system"

    @admin.action(description=_("Export selected entries as CSV"), permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> HttpResponse:
        return audit_csv(queryset)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
