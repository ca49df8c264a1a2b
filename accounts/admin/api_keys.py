"""Everyone's API keys in the admin, on the library's APIKeyModelAdmin."""

# Adding a key in the admin shows the full key once in a message; the list shows only
# prefixes.

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from ..api_keys.services import api_key_audit, api_keys_revoke
from ..models import ApiKey
from ..quota.caps import CAP_FIELDS, key_cap_set
from .forms import acting_user

# The library registers its own (unused) APIKey model; one "API keys" entry is enough.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "user", "last_used_at", "cap_display")  # type: ignore[assignment]
    list_filter = (*APIKeyModelAdmin.list_filter, "revoked")  # type: ignore[assignment]
    search_fields = (*APIKeyModelAdmin.search_fields, "user__username", "user__email")  # type: ignore[assignment]
    raw_id_fields = ("user",)
    actions = ("revoke",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The counters move only through reservations and settlements.
        return (*super().get_readonly_fields(request, obj), "cap_used", "cap_reserved", "cap_since")

    @admin.display(description=_("cap"))
    def cap_display(self, key: ApiKey) -> str:
        if key.image_cap is None:
            return "—"
        return (
            f"{key.cap_used + key.cap_reserved} / {key.image_cap} ({key.get_cap_period_display()})"
        )

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any = None, change: bool = False
    ) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            api_key_audit("key created", obj, obj.user)
            return
        # Never save the whole row: it would overwrite counters moved by requests meanwhile.
        others = [f for f in form.changed_data if f not in CAP_FIELDS]
        if "revoked" in others and obj.revoked:
            # Through the service, so the revocation is audited (and happens once).
            others.remove("revoked")
            api_keys_revoke(keys=[obj])
        if others:
            obj.save(update_fields=others)
        if any(f in CAP_FIELDS for f in form.changed_data):
            key_cap_set(
                actor=acting_user(request),
                key=obj,
                image_cap=obj.image_cap,
                cap_period=obj.cap_period,
                cap_model=obj.cap_model,
                reason="changed in the admin",
            )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        api_keys_revoke(keys=queryset.select_related("user"))
