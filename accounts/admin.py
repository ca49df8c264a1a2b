"""Admin for people, groups and quotas: an interface over accounts.services.

No quota row is ever saved from a form: every edit and bulk action calls a service
that locks the row and writes only the columns it changes (plus an audit row), so a
concurrent request's `used`/`reserved` can't be overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from providers.catalog import get_catalog

from . import services
from .models import GroupQuota, ModelQuotaPolicy, Period, Quota, QuotaAudit, User
from .selectors import LayerCache, Layered, layered_for, quota_overview

QUOTA_PERM = "accounts.change_quota"


def catalog_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(get_catalog().names())]


class CatalogModelFilter(admin.SimpleListFilter):
    """Filter by catalog model name (the `model` field, or `model_field` in a subclass)."""

    title = _("model")
    parameter_name = "model"
    model_field = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return catalog_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(**{self.model_field: self.value()})
        return queryset


# --- Bulk-action input --------------------------------------------------------------


class QuotaInputs(forms.Form):
    """The inputs shown beside the action menu: which model, how many images, why."""

    model = forms.ChoiceField(label=_("Model"), required=False,
                              choices=lambda: [("", "---------"), *catalog_choices()])
    n = forms.IntegerField(label=_("Images"), required=False, min_value=1, max_value=100000)
    reason = forms.CharField(label=_("Why"), required=False, max_length=500)


class QuotaActionForm(ActionForm, QuotaInputs):
    pass


class GrantActionForm(ActionForm):
    """On the quota list each row names its model: only how many and why."""

    n = QuotaInputs.base_fields["n"]
    reason = QuotaInputs.base_fields["reason"]


@dataclass(frozen=True)
class ActionInput:
    model: str
    n: int
    reason: str


def _action_input(
    request: HttpRequest, *, need_model: bool = False, need_n: bool = False
) -> ActionInput | None:
    """Read the action bar's fields; tell the admin what's missing and return None."""
    form = QuotaInputs(request.POST)  # not the ActionForm: its `action` choices aren't set here
    if not form.is_valid():
        messages.error(request, _("Check the model, images and reason fields."))
        return None
    data = form.cleaned_data
    if need_model and not data.get("model"):
        messages.error(request, _("Choose a model beside the action menu."))
        return None
    if need_n and not data.get("n"):
        messages.error(request, _("Enter how many images beside the action menu."))
        return None
    return ActionInput(data.get("model") or "", data.get("n") or 0, data.get("reason") or "")


def _report(request: HttpRequest, done: int, total: int, what: str) -> None:
    level = messages.SUCCESS if done else messages.WARNING
    messages.add_message(request, level, f"{what}: {done} of {total} changed.")


def _for_people(
    request: HttpRequest, people: Iterable[User], what: str, change: Callable[[User], bool]
) -> None:
    people = list(people)
    _report(request, sum(change(person) for person in people), len(people), what)


class QuotaPermissionMixin:
    """Quota actions need the quota change permission, wherever they appear."""

    def has_quota_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(QUOTA_PERM)


# --- People ------------------------------------------------------------------------


@admin.register(User)
class UserAdmin(QuotaPermissionMixin, DjangoUserAdmin):
    action_form = QuotaActionForm
    list_display = ["username", "email", "first_name", "last_name", "is_active", "is_staff",
                    "group_names", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups"]
    readonly_fields = ["quota_table"]
    actions = ["grant_images", "set_unlimited", "reset_used", "deactivate", "reactivate"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append((_("Quotas"), {"fields": ["quota_table"]}))
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("groups"))
    def group_names(self, obj: User) -> str:
        return ", ".join(g.name for g in obj.groups.all())

    @admin.display(description=_("quotas per model"))
    def quota_table(self, obj: User) -> SafeString:
        return SafeString(render_to_string("admin/accounts/quota_table.html",
                                           {"rows": quota_overview(obj), "person": obj}))

    @admin.action(description=_("Grant N more images of the model"), permissions=["quota"])
    def grant_images(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if (i := _action_input(request, need_model=True, need_n=True)) is None:
            return
        _for_people(request, queryset, f"Granted {i.n} images of {i.model}",
                    lambda u: services.quota_grant(actor=_actor(request), user=u,
                                                   model=i.model, n=i.n, reason=i.reason))

    @admin.action(description=_("Set unlimited for the model"), permissions=["quota"])
    def set_unlimited(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if (i := _action_input(request, need_model=True)) is None:
            return
        _for_people(request, queryset, f"Unlimited {i.model}",
                    lambda u: services.quota_set_unlimited(actor=_actor(request), user=u,
                                                           model=i.model, reason=i.reason))

    @admin.action(description=_("Reset used count for the model"), permissions=["quota"])
    def reset_used(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if (i := _action_input(request, need_model=True)) is None:
            return
        _for_people(request, queryset, f"Reset used {i.model}",
                    lambda u: services.quota_reset_used(actor=_actor(request), user=u,
                                                        model=i.model, reason=i.reason))

    @admin.action(description=_("Deactivate (keys stop working, history stays)"),
                  permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        people = [u for u in queryset if u.pk != request.user.pk]  # never lock yourself out
        _for_people(request, people, "Deactivated",
                    lambda u: services.user_set_active(actor=_actor(request), user=u,
                                                       active=False))

    @admin.action(description=_("Reactivate"), permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        _for_people(request, queryset, "Reactivated",
                    lambda u: services.user_set_active(actor=_actor(request), user=u,
                                                       active=True))


def _actor(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


# --- Groups ------------------------------------------------------------------------


class GroupQuotaForm(forms.ModelForm):
    model = forms.ChoiceField(label=_("Model"), choices=catalog_choices)
    period = forms.ChoiceField(label=_("Period"), required=False,
                               choices=[("", _("Inherit (the model's)")), *Period.choices])

    class Meta:
        model = GroupQuota
        fields = ["model", "limit", "unlimited", "period"]


class GroupQuotaInline(admin.TabularInline):
    model = GroupQuota
    form = GroupQuotaForm
    extra = 1
    can_delete = False  # set limit/period back to inherit instead: that is audited

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(QUOTA_PERM)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(QUOTA_PERM)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(QuotaPermissionMixin, DjangoGroupAdmin):
    action_form = QuotaActionForm
    inlines = [GroupQuotaInline]
    list_display = ["name", "member_count"]
    actions = ["grant_members", "set_group_unlimited", "reset_members_used"]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not GroupQuota:
            return super().save_formset(request, form, formset, change)
        # commit=False only builds the change message's lists (new/changed objects); the
        # writes go through the audited service, never through a row's save().
        formset.save(commit=False)
        for row in formset.forms:
            if not row.has_changed():
                continue
            data = row.cleaned_data
            services.group_quota_update(
                actor=_actor(request), group=form.instance, model=data["model"],
                limit=data["limit"], unlimited=data["unlimited"], period=data["period"] or "",
                reason="edited on the group page",
            )
        return None

    @admin.display(description=_("members"))
    def member_count(self, obj: Group) -> int:
        return obj.user_set.count()

    @admin.action(description=_("Grant N more images of the model to every member"),
                  permissions=["quota"])
    def grant_members(self, request: HttpRequest, queryset: QuerySet[Group]) -> None:
        if (i := _action_input(request, need_model=True, need_n=True)) is None:
            return
        for group in queryset:
            done = services.quota_grant_group(actor=_actor(request), group=group,
                                              model=i.model, n=i.n, reason=i.reason)
            _report(request, done, group.user_set.count(),
                    f"Granted {i.n} images of {i.model} to group {group.name}")

    @admin.action(description=_("Set the group unlimited for the model"), permissions=["quota"])
    def set_group_unlimited(self, request: HttpRequest, queryset: QuerySet[Group]) -> None:
        if (i := _action_input(request, need_model=True)) is None:
            return
        done = sum(bool(services.group_quota_update(
            actor=_actor(request), group=g, model=i.model, unlimited=True, reason=i.reason,
            action="set unlimited")) for g in queryset)
        _report(request, done, queryset.count(), f"Unlimited {i.model}")

    @admin.action(description=_("Reset every member's used count for the model"),
                  permissions=["quota"])
    def reset_members_used(self, request: HttpRequest, queryset: QuerySet[Group]) -> None:
        if (i := _action_input(request, need_model=True)) is None:
            return
        people = User.objects.filter(groups__in=queryset).distinct().order_by("pk")
        _for_people(request, people, f"Reset used {i.model}",
                    lambda u: services.quota_reset_used(actor=_actor(request), user=u,
                                                        model=i.model, reason=i.reason))


# --- Quotas ------------------------------------------------------------------------


class QuotaForm(forms.ModelForm):
    """Only the person's own layer is editable; `reason` goes to the audit log."""

    model = forms.ChoiceField(label=_("Model"), choices=catalog_choices)
    reason = forms.CharField(label=_("Why"), required=False, max_length=500,
                             help_text=_("Kept in the quota audit log."))

    class Meta:
        model = Quota
        fields = ["user", "model", "limit", "unlimited"]
        help_texts = {"limit": _("Empty: inherit from the person's groups or the catalog.")}


def _layered(obj: Quota) -> Layered:
    # Set in bulk by QuotaAdmin.get_changelist_instance; one-off on the change page.
    cached = getattr(obj, "layered", None)
    return cached if cached is not None else layered_for(user=obj.user, model=obj.model,
                                                        quota=obj)


class PersonGroupFilter(admin.SimpleListFilter):
    title = _("group")
    parameter_name = "group"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in Group.objects.order_by("name").values_list(
            "pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(user__groups__pk=self.value())
        return queryset


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    form = QuotaForm
    action_form = GrantActionForm
    list_display = ["user", "model", "effective_limit", "limit_source", "used", "reserved",
                    "left", "period", "unlimited", "updated_at"]
    list_filter = [CatalogModelFilter, PersonGroupFilter, "unlimited"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name",
                     "model"]
    list_select_related = ["user"]
    readonly_fields = ["effective_limit", "limit_source", "used", "reserved", "left", "period",
                       "used_since", "updated_at"]
    actions = ["grant_more", "reset_used", "set_unlimited", "clear_unlimited"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return ["user", "model", *fields] if obj is not None else fields

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        layers = LayerCache(user_ids={q.user_id for q in rows})
        for quota in rows:
            quota.layered = layers.resolve(user_id=quota.user_id, model=quota.model,
                                           quota=quota)
        return changelist

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting a row would silently hand back its used images

    def save_model(self, request: HttpRequest, obj: Quota, form: Any, change: bool) -> None:
        # Never obj.save(): that would write back `used`/`reserved` as the form read them.
        data = form.cleaned_data
        services.quota_update(actor=_actor(request), user=obj.user, model=obj.model,
                              limit=data.get("limit"), unlimited=data.get("unlimited", False),
                              reason=data.get("reason", ""))
        obj.pk = Quota.objects.only("pk").get(user=obj.user, model=obj.model).pk

    @admin.display(description=_("effective limit"))
    def effective_limit(self, obj: Quota) -> str:
        return _layered(obj).limit_display if obj.pk else "-"

    @admin.display(description=_("from"))
    def limit_source(self, obj: Quota) -> str:
        return _layered(obj).source if obj.pk else "-"

    @admin.display(description=_("left"))
    def left(self, obj: Quota) -> str:
        if not obj.pk:
            return "-"
        limit = _layered(obj).limit
        return "∞" if limit is None else str(max(0, limit - obj.used - obj.reserved))

    @admin.display(description=_("period"))
    def period(self, obj: Quota) -> str:
        if not obj.pk:
            return "-"
        layered = _layered(obj)
        return f"{Period(layered.period).label} ({layered.period_source})"

    @admin.action(description=_("Grant N more images"), permissions=["change"])
    def grant_more(self, request: HttpRequest, queryset: QuerySet[Quota]) -> None:
        if (i := _action_input(request, need_n=True)) is None:
            return
        rows = list(queryset.select_related("user"))
        done = sum(services.quota_grant(actor=_actor(request), user=q.user, model=q.model,
                                        n=i.n, reason=i.reason) for q in rows)
        _report(request, done, len(rows), f"Granted {i.n} images")

    @admin.action(description=_("Reset used count"), permissions=["change"])
    def reset_used(self, request: HttpRequest, queryset: QuerySet[Quota]) -> None:
        self._each(request, queryset, "Reset used", services.quota_reset_used)

    @admin.action(description=_("Set unlimited"), permissions=["change"])
    def set_unlimited(self, request: HttpRequest, queryset: QuerySet[Quota]) -> None:
        self._each(request, queryset, "Set unlimited", services.quota_set_unlimited)

    @admin.action(description=_("Clear unlimited"), permissions=["change"])
    def clear_unlimited(self, request: HttpRequest, queryset: QuerySet[Quota]) -> None:
        def clear(**kwargs: Any) -> bool:
            return services.quota_set_unlimited(unlimited=False, **kwargs)

        self._each(request, queryset, "Cleared unlimited", clear)

    def _each(self, request: HttpRequest, queryset: QuerySet[Quota], what: str,
              change: Callable[..., bool]) -> None:
        reason = request.POST.get("reason", "")[:500]
        rows = list(queryset.select_related("user"))
        done = sum(change(actor=_actor(request), user=q.user, model=q.model, reason=reason)
                   for q in rows)
        _report(request, done, len(rows), what)


@admin.register(GroupQuota)
class GroupQuotaAdmin(admin.ModelAdmin):
    form = GroupQuotaForm
    list_display = ["group", "model", "limit", "unlimited", "period"]
    list_filter = ["group", CatalogModelFilter, "unlimited", "period"]
    search_fields = ["group__name", "model"]

    fields = ["group", "model", "limit", "unlimited", "period"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["group", "model"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # set it back to inherit instead: that is audited

    def save_model(self, request: HttpRequest, obj: GroupQuota, form: Any,
                   change: bool) -> None:
        data = form.cleaned_data
        services.group_quota_update(
            actor=_actor(request), group=obj.group, model=obj.model, limit=data["limit"],
            unlimited=data["unlimited"], period=data.get("period") or "", reason="admin edit",
        )
        obj.pk = GroupQuota.objects.only("pk").get(group=obj.group, model=obj.model).pk


class ModelQuotaPolicyForm(forms.ModelForm):
    model = forms.ChoiceField(label=_("Model"), choices=catalog_choices)

    class Meta:
        model = ModelQuotaPolicy
        fields = ["model", "period"]


@admin.register(ModelQuotaPolicy)
class ModelQuotaPolicyAdmin(admin.ModelAdmin):
    form = ModelQuotaPolicyForm
    list_display = ["model", "period", "free_quota"]
    list_filter = ["period"]

    @admin.display(description=_("catalog free quota"))
    def free_quota(self, obj: ModelQuotaPolicy) -> str:
        spec = get_catalog().get(obj.model)
        return str(spec.free_quota) if spec else "-"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["model"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # set the period to "No reset" instead: that is audited

    def save_model(self, request: HttpRequest, obj: ModelQuotaPolicy, form: Any,
                   change: bool) -> None:
        services.model_period_set(actor=_actor(request), model=obj.model,
                                  period=form.cleaned_data["period"], reason="admin edit")
        obj.pk = ModelQuotaPolicy.objects.only("pk").get(model=obj.model).pk


@admin.register(QuotaAudit)
class QuotaAuditAdmin(admin.ModelAdmin):
    """Read-only: admins with view permission read it; nobody adds, edits or deletes."""

    list_display = ["at", "actor_name", "subject", "model", "action", "field", "old_value",
                    "new_value", "reason"]
    list_filter = [CatalogModelFilter, "action", "field", ("at", admin.DateFieldListFilter)]
    search_fields = ["subject", "model", "reason", "actor__username"]
    date_hierarchy = "at"
    list_select_related = ["actor"]

    @admin.display(description=_("changed by"), ordering="actor__username")
    def actor_name(self, obj: QuotaAudit) -> str:
        return obj.actor.get_username() if obj.actor else format_html("<em>{}</em>", "system")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


from . import admin_api_keys  # noqa: E402,F401  (API keys: the API helper's module)
