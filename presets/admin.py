from __future__ import annotations

from django.contrib import admin

from presets.admin_audit import AuditedOwnedAdmin
from presets.models import Preset


@admin.register(Preset)
class PresetAdmin(AuditedOwnedAdmin):
    list_display = ("name", "owner", "model", "shared_everyone", "created_at")
    list_filter = ("shared_everyone",)
    search_fields = ("name", "template", "owner__username")
    autocomplete_fields = ("owner",)
    filter_horizontal = ("shared_groups",)
