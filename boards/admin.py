from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from boards.models import Board
from presets.admin_audit import AuditedOwnedAdmin


@admin.register(Board)
class BoardAdmin(AuditedOwnedAdmin):
    list_display = ("name", "owner", "shared_everyone", "image_total", "created_at")
    list_filter = ("shared_everyone",)
    search_fields = ("name", "description", "owner__username")
    autocomplete_fields = ("owner",)
    filter_horizontal = ("shared_groups",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Board]:
        return super().get_queryset(request).annotate(total=Count("items"))

    @admin.display(description=_("images"), ordering="total")
    def image_total(self, board: Board) -> int:
        return getattr(board, "total", 0)
