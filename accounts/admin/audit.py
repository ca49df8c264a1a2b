"""The audit log in the admin: read-only, filterable, exportable as CSV."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.admin.forms import CatalogModelFilter
from accounts.audit_labels import ACTION_LABELS, TARGET_LABELS, action_label, target_label
from accounts.models import AuditEntry

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


class _LabelledFilter(admin.SimpleListFilter):
    """A filter over a text column whose values are shown through a label table."""

    labels: dict[str, Any] = {}
    field = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        values = AuditEntry.objects.order_by().values_list(self.field, flat=True).distinct()
        return sorted(((v, str(self.labels.get(v, v))) for v in values if v), key=lambda c: c[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class ActionFilter(_LabelledFilter):
    title = _("action")
    parameter_name = "action"
    labels, field = ACTION_LABELS, "action"


class TargetFilter(_LabelledFilter):
    title = _("target type")
    parameter_name = "target_type"
    labels, field = TARGET_LABELS, "target_type"


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: admins with view permission read it; nobody adds, edits or deletes."""

    list_display = [
        "at",
        "actor_label",
        "action_display",
        "target_display",
        "subject",
        "model",
        "field",
        "old_value",
        "new_value",
        "reason",
        "ip",
    ]
    list_filter = [
        ActionFilter,
        TargetFilter,
        CatalogModelFilter,
        "field",
        ("at", admin.DateFieldListFilter),
    ]
    search_fields = ["subject", "actor_name", "model", "reason", "target_id", "ip"]
    # An entry's page: the action and target type in the reader's language too.
    fields = [
        "at",
        "actor_name",
        "action_display",
        "target_display",
        "target_id",
        "subject",
        "user",
        "group",
        "model",
        "field",
        "old_value",
        "new_value",
        "detail",
        "reason",
        "ip",
    ]
    readonly_fields = ["at", "action_display", "target_display"]
    date_hierarchy = "at"
    actions = ["export_csv"]

    @admin.display(description=_("changed by"), ordering="actor_name")
    def actor_label(self, obj: AuditEntry) -> str:
        return obj.actor_name or str(_("system"))

    @admin.display(description=_("action"), ordering="action")
    def action_display(self, obj: AuditEntry) -> str:
        return action_label(obj.action)

    @admin.display(description=_("target type"), ordering="target_type")
    def target_display(self, obj: AuditEntry) -> str:
        return target_label(obj.target_type)

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
