"""The people admin, registered here once: the person pages of accounts.admin.people
with the storage each person uses and erasure, which reach into generations (files,
jobs) and so join one layer up.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from accounts.admin.forms import acting_user
from accounts.admin.people import UserAdmin
from accounts.models import ErasureRequest, User
from generations.erasure import erase_person
from generations.storage_use import with_storage_bytes


def erase_people(request: HttpRequest, people: list[User]) -> None:
    """The staff action: erase each person's data (never one's own account)."""
    people = [p for p in people if p.pk != request.user.pk]
    images = sum(
        erase_person(actor=acting_user(request), user=p, reason="erased in the admin").images
        for p in people
    )
    messages.success(request, f"Erased the data of {len(people)} people ({images} images removed).")


@admin.register(User)
class PersonAdmin(UserAdmin):
    list_display = [*UserAdmin.list_display[:-1], "storage", UserAdmin.list_display[-1]]
    actions = [*UserAdmin.actions, "erase_data"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return with_storage_bytes(super().get_queryset(request))

    @admin.display(description=_("storage used"), ordering="storage_bytes")
    def storage(self, obj: User) -> str:
        return filesizeformat(getattr(obj, "storage_bytes", 0))

    @admin.action(
        description=_("Erase their data (files, keys; anonymised history stays)"),
        permissions=["change"],
    )
    def erase_data(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        erase_people(request, list(queryset))


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
