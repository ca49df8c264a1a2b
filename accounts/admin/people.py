"""People and groups in the admin: their quota actions, the group's quota inline, deactivation.

The people admin is registered once, by generations.admin_people, which adds the
columns and actions that reach into generations (storage used, erasure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, Permission
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.admin.forms import (
    GroupQuotaForm,
    PersonQuotaForm,
    QuotaActionForm,
    acting_user,
    action_input,
    layer_text,
    report,
)
from accounts.models import DirectoryGroup, GroupPool, GroupQuota, Quota, User
from accounts.quota import changes as quota_changes
from accounts.quota import quota_overview
from accounts.quota.pools import pool_set

QUOTA_PERM = "accounts.change_quota"


def _for_people(
    request: HttpRequest, people: Iterable[User], what: str, change: Callable[[User], bool]
) -> None:
    people = list(people)
    report(request, sum(change(person) for person in people), len(people), what)


class PersonQuotaInline(admin.TabularInline):
    """The person's own limits, edited on their page; saved through the audited service."""

    model = Quota
    form = PersonQuotaForm
    fields = ["model", "limit", "unlimited", "used", "reserved"]
    readonly_fields = ["used", "reserved"]
    extra = 1
    can_delete = False  # deleting would hand back used images; set the limit to inherit
    verbose_name = _("own limit")
    verbose_name_plural = _("own limits (grant more by raising one)")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(QUOTA_PERM)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(QUOTA_PERM)


class QuotaPermissionMixin:
    """Quota actions need the quota change permission, wherever they appear."""

    def has_quota_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(QUOTA_PERM)


class UserAdmin(QuotaPermissionMixin, DjangoUserAdmin):
    action_form = QuotaActionForm
    inlines = [PersonQuotaInline]
    list_display = [
        "username",
        "full_name",
        "email",
        "group_names",
        "is_active",
        "is_staff",
        "last_login",
    ]
    list_filter = ["is_active", "is_staff", "groups"]
    readonly_fields = ["quota_table", "last_login", "date_joined"]
    actions = [
        "grant_images",
        "set_unlimited",
        "reset_used",
        "deactivate",
        "reactivate",
    ]
    # What an admin of this product decides about a person; Django's raw permission
    # pickers stay out (groups carry access and quota pools).
    filter_horizontal = ()
    add_fieldsets = (
        (None, {"fields": ("username", "usable_password", "password1", "password2")}),
        (_("Person"), {"fields": ("first_name", "last_name", "email")}),
        (_("Access"), {"fields": ("is_active", "is_staff", "groups")}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        fieldsets: list[Any] = [
            (None, {"fields": ["username", "password"]}),
            (_("Person"), {"fields": ["first_name", "last_name", "email"]}),
            (_("Access"), {"fields": ["is_active", "is_staff", "groups"]}),
            (_("Quotas"), {"fields": ["quota_table"]}),
            (_("History"), {"fields": ["last_login", "date_joined"]}),
        ]
        if getattr(request.user, "is_superuser", False):
            fieldsets.insert(3, (_("Superuser"), {"fields": ["is_superuser"]}))
        return fieldsets

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups":
            kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # Adding a person asks who they are and their groups; limits come once they exist.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Quota:
            return super().save_formset(request, form, formset, change)
        # As on the group page: the change message's lists only; writes go through the
        # audited service, which locks the row and never touches `used`/`reserved`.
        formset.save(commit=False)
        for row in formset.forms:
            if not row.has_changed() or not row.cleaned_data.get("model"):
                continue
            quota_changes.quota_update(
                actor=acting_user(request),
                user=form.instance,
                model=row.cleaned_data["model"],
                limit=row.cleaned_data["limit"],
                unlimited=row.cleaned_data["unlimited"],
                reason="edited on the person page",
            )
        return None

    @admin.display(description=_("name"), ordering="last_name")
    def full_name(self, obj: User) -> str:
        return obj.get_full_name()

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("groups"))
    def group_names(self, obj: User) -> str:
        return ", ".join(g.name for g in obj.groups.all())

    @admin.display(description=_("quotas per model"))
    def quota_table(self, obj: User) -> SafeString:
        return SafeString(
            render_to_string(
                "admin/accounts/quota_table.html",
                {
                    "rows": [
                        (u, layer_text(u.layered.source), layer_text(u.layered.period_source))
                        for u in quota_overview(obj)
                    ],
                    "person": obj,
                },
            )
        )

    @admin.action(description=_("Grant N more images of the model"), permissions=["quota"])
    def grant_images(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if (i := action_input(request, need_model=True, need_n=True)) is None:
            return
        _for_people(
            request,
            queryset,
            f"Granted {i.n} images of {i.model}",
            lambda u: quota_changes.quota_grant(
                actor=acting_user(request), user=u, model=i.model, n=i.n, reason=i.reason
            ),
        )

    @admin.action(description=_("Set unlimited for the model"), permissions=["quota"])
    def set_unlimited(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if (i := action_input(request, need_model=True)) is None:
            return
        _for_people(
            request,
            queryset,
            f"Unlimited {i.model}",
            lambda u: quota_changes.quota_set_unlimited(
                actor=acting_user(request), user=u, model=i.model, reason=i.reason
            ),
        )

    @admin.action(description=_("Reset used count for the model"), permissions=["quota"])
    def reset_used(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if (i := action_input(request, need_model=True)) is None:
            return
        _for_people(
            request,
            queryset,
            f"Reset used {i.model}",
            lambda u: quota_changes.quota_reset_used(
                actor=acting_user(request), user=u, model=i.model, reason=i.reason
            ),
        )

    @admin.action(
        description=_("Deactivate (keys stop working, history stays)"), permissions=["change"]
    )
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        people = [u for u in queryset if u.pk != request.user.pk]  # never lock yourself out
        _for_people(
            request,
            people,
            "Deactivated",
            lambda u: services.user_set_active(actor=acting_user(request), user=u, active=False),
        )

    @admin.action(description=_("Reactivate"), permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        _for_people(
            request,
            queryset,
            "Reactivated",
            lambda u: services.user_set_active(actor=acting_user(request), user=u, active=True),
        )


class GroupQuotaInline(admin.TabularInline):
    model = GroupQuota
    form = GroupQuotaForm
    extra = 1
    can_delete = False  # set limit/period back to inherit instead: that is audited

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(QUOTA_PERM)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(QUOTA_PERM)


class DirectoryGroupInline(admin.StackedInline):
    """Whether single sign-on alone decides who is in this group."""

    model = DirectoryGroup
    extra = 0
    max_num = 1
    can_delete = True


class GroupPoolInline(admin.TabularInline):
    """Shared images for the group's members; the counters are shown, never edited."""

    model = GroupPool
    fields = ("model", "size", "period", "mode", "used", "reserved")
    readonly_fields = ("used", "reserved")
    extra = 0
    can_delete = False  # set the size to 0 instead: that is audited

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(QUOTA_PERM)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(QUOTA_PERM)


admin.site.unregister(Group)

_PERMISSION_VERBS = {
    "add": _("can add"),
    "change": _("can change"),
    "delete": _("can delete"),
    "view": _("can view"),
}


def permission_label(permission: Permission) -> str:
    """Django stores a permission's name in English at migrate time ("Can view audit
    entry"); this one is made in the reader's language from the model's own name."""
    verb = _PERMISSION_VERBS.get(permission.codename.split("_", 1)[0])
    model = permission.content_type.model_class()
    if verb is None or model is None:
        return str(permission)
    app = apps.get_app_config(permission.content_type.app_label).verbose_name
    return f"{app} | {model._meta.verbose_name} | {verb}"


class PermissionChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return permission_label(obj)


@admin.register(Group)
class GroupAdmin(QuotaPermissionMixin, DjangoGroupAdmin):
    action_form = QuotaActionForm
    inlines = [GroupQuotaInline, GroupPoolInline, DirectoryGroupInline]
    list_display = ["name", "member_count"]
    actions = ["grant_members", "set_group_unlimited", "reset_members_used"]

    def formfield_for_manytomany(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name == "permissions":
            kwargs["form_class"] = PermissionChoices
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is GroupPool:
            return self._save_pools(request, form, formset)
        if formset.model is not GroupQuota:
            return super().save_formset(request, form, formset, change)
        # commit=False only builds the change message's lists (new/changed objects); the
        # writes go through the audited service, never through a row's save().
        formset.save(commit=False)
        for row in formset.forms:
            if not row.has_changed():
                continue
            data = row.cleaned_data
            quota_changes.group_quota_update(
                actor=acting_user(request),
                group=form.instance,
                model=data["model"],
                limit=data["limit"],
                unlimited=data["unlimited"],
                period=data["period"] or "",
                reason="edited on the group page",
            )
        return None

    def _save_pools(self, request: HttpRequest, form: Any, formset: Any) -> None:
        formset.save(commit=False)  # the change message only; writes go through pool_set
        for row in formset.forms:
            if row.has_changed():
                data = row.cleaned_data
                pool_set(
                    actor=acting_user(request),
                    group=form.instance,
                    model=data["model"],
                    size=data["size"],
                    period=data["period"],
                    mode=data["mode"],
                    reason="edited on the group page",
                )

    @admin.display(description=_("members"))
    def member_count(self, obj: Group) -> int:
        return obj.user_set.count()

    @admin.action(
        description=_("Grant N more images of the model to every member"), permissions=["quota"]
    )
    def grant_members(self, request: HttpRequest, queryset: QuerySet[Group]) -> None:
        if (i := action_input(request, need_model=True, need_n=True)) is None:
            return
        for group in queryset:
            done = quota_changes.quota_grant_group(
                actor=acting_user(request), group=group, model=i.model, n=i.n, reason=i.reason
            )
            report(
                request,
                done,
                group.user_set.count(),
                f"Granted {i.n} images of {i.model} to group {group.name}",
            )

    @admin.action(description=_("Set the group unlimited for the model"), permissions=["quota"])
    def set_group_unlimited(self, request: HttpRequest, queryset: QuerySet[Group]) -> None:
        if (i := action_input(request, need_model=True)) is None:
            return
        done = sum(
            bool(
                quota_changes.group_quota_update(
                    actor=acting_user(request),
                    group=g,
                    model=i.model,
                    unlimited=True,
                    reason=i.reason,
                    action="set unlimited",
                )
            )
            for g in queryset
        )
        report(request, done, queryset.count(), f"Unlimited {i.model}")

    @admin.action(
        description=_("Reset every member's used count for the model"), permissions=["quota"]
    )
    def reset_members_used(self, request: HttpRequest, queryset: QuerySet[Group]) -> None:
        if (i := action_input(request, need_model=True)) is None:
            return
        people = User.objects.filter(groups__in=queryset).distinct().order_by("pk")
        _for_people(
            request,
            people,
            f"Reset used {i.model}",
            lambda u: quota_changes.quota_reset_used(
                actor=acting_user(request), user=u, model=i.model, reason=i.reason
            ),
        )
