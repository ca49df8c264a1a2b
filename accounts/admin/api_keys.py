"""Everyone's API keys in the admin, on the library's APIKeyModelAdmin."""

# Adding a key in the admin shows the full key once in a message; the list shows only
# prefixes.

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from ..api_keys.services import api_keys_revoke
from ..models import ApiKey

# The library registers its own (unused) APIKey model; one "API keys" entry is enough.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "user", "last_used_at")  # type: ignore[assignment]
    list_filter = (*APIKeyModelAdmin.list_filter, "revoked")  # type: ignore[assignment]
    search_fields = (*APIKeyModelAdmin.search_fields, "user__username", "user__email")  # type: ignore[assignment]
    raw_id_fields = ("user",)
    actions = ("revoke",)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        api_keys_revoke(key_ids=list(queryset.values_list("pk", flat=True)))
