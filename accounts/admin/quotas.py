"""Quotas in the admin: per person, per group, per model (reset period)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.admin.forms import (
    CatalogModelFilter,
    GrantActionForm,
    GroupQuotaForm,
    ModelQuotaPolicyForm,
    NearLimitFilter,
    PersonGroupFilter,
    QuotaForm,
    acting_user,
    action_input,
    layer_text,
    report,
)
from accounts.models import GroupQuota, ModelQuotaPolicy, Period, Quota
from accounts.quota import budget
from accounts.quota import changes as quota_changes
from accounts.quota.layers import LayerCache, Layered, layered_for
from providers.catalog import get_catalog


def _layered(obj: Quota) -> Layered:
    # Set in bulk by QuotaAdmin.get_changelist_instance; one-off on the change page.
    cached = getattr(obj, "layered", None)
    return cached if cached is not None else layered_for(user=obj.user, model=obj.model, quota=obj)


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    form = QuotaForm
    action_form = GrantActionForm
    list_display = [
        "user",
        "model",
        "effective_limit",
        "limit_source",
        "used",
        "reserved",
        "left",
        "period",
        "unlimited",
        "updated_at",
    ]
    list_filter = [NearLimitFilter, CatalogModelFilter, PersonGroupFilter, "unlimited"]
    search_fields = [
        "user__username",
        "user__email",
        "user__first_name",
        "user__last_name",
        "model",
    ]
    list_select_related = ["user"]
    readonly_fields = [
        "effective_limit",
        "limit_source",
        "used",
        "reserved",
        "left",
        "period",
        "used_since",
        "updated_at",
    ]
    actions = ["grant_more", "reset_used", "set_unlimited", "clear_unlimited"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return ["user", "model", *fields] if obj is not None else fields

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        layers = LayerCache(user_ids={q.user_id for q in rows})
        for quota in rows:
            quota.layered = layers.resolve(user_id=quota.user_id, model=quota.model, quota=quota)
        return changelist

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting a row would silently hand back its used images

    def save_model(self, request: HttpRequest, obj: Quota, form: Any, change: bool) -> None:
        # Never obj.save(): that would write back `used`/`reserved` as the form read them.
        data = form.cleaned_data
        quota_changes.quota_update(
            actor=acting_user(request),
            user=obj.user,
            model=obj.model,
            limit=data.get("limit"),
            unlimited=data.get("unlimited", False),
            reason=data.get("reason", ""),
        )
        obj.pk = Quota.objects.only("pk").get(user=obj.user, model=obj.model).pk

    @admin.display(description=_("effective limit"))
    def effective_limit(self, obj: Quota) -> str:
        return _layered(obj).limit_display if obj.pk else "-"

    @admin.display(description=_("from"))
    def limit_source(self, obj: Quota) -> str:
        return layer_text(_layered(obj).source) if obj.pk else "-"

    @admin.display(description=_("left"))
    def left(self, obj: Quota) -> str:
        if not obj.pk:
            return "-"
        limit = _layered(obj).limit
        left = budget.left(limit, obj.used, obj.reserved)
        return "∞" if left is None else str(left)

    @admin.display(description=_("period"))
    def period(self, obj: Quota) -> str:
        if not obj.pk:
            return "-"
        layered = _layered(obj)
        return f"{Period(layered.period).label} ({layer_text(layered.period_source)})"

    @admin.action(description=_("Grant N more images"), permissions=["change"])
    def grant_more(self, request: HttpRequest, queryset: QuerySet[Quota]) -> None:
        if (i := action_input(request, need_n=True)) is None:
            return
        rows = list(queryset.select_related("user"))
        done = sum(
            quota_changes.quota_grant(
                actor=acting_user(request), user=q.user, model=q.model, n=i.n, reason=i.reason
            )
            for q in rows
        )
        report(request, done, len(rows), f"Granted {i.n} images")

    @admin.action(description=_("Reset used count"), permissions=["change"])
    def reset_used(self, request: HttpRequest, queryset: QuerySet[Quota]) -> None:
        self._each(request, queryset, "Reset used", quota_changes.quota_reset_used)

    @admin.action(description=_("Set unlimited"), permissions=["change"])
    def set_unlimited(self, request: HttpRequest, queryset: QuerySet[Quota]) -> None:
        self._each(request, queryset, "Set unlimited", quota_changes.quota_set_unlimited)

    @admin.action(description=_("Clear unlimited"), permissions=["change"])
    def clear_unlimited(self, request: HttpRequest, queryset: QuerySet[Quota]) -> None:
        def clear(**kwargs: Any) -> bool:
            return quota_changes.quota_set_unlimited(unlimited=False, **kwargs)

        self._each(request, queryset, "Cleared unlimited", clear)

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[Quota],
        what: str,
        change: Callable[..., bool],
    ) -> None:
        reason = request.POST.get("reason", "")[:500]
        rows = list(queryset.select_related("user"))
        done = sum(
            change(actor=acting_user(request), user=q.user, model=q.model, reason=reason)
            for q in rows
        )
        report(request, done, len(rows), what)


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

    def save_model(self, request: HttpRequest, obj: GroupQuota, form: Any, change: bool) -> None:
        data = form.cleaned_data
        quota_changes.group_quota_update(
            actor=acting_user(request),
            group=obj.group,
            model=obj.model,
            limit=data["limit"],
            unlimited=data["unlimited"],
            period=data.get("period") or "",
            reason="admin edit",
        )
        obj.pk = GroupQuota.objects.only("pk").get(group=obj.group, model=obj.model).pk


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

    def save_model(
        self, request: HttpRequest, obj: ModelQuotaPolicy, form: Any, change: bool
    ) -> None:
        quota_changes.model_period_set(
            actor=acting_user(request),
            model=obj.model,
            period=form.cleaned_data["period"],
            reason="admin edit",
        )
        obj.pk = ModelQuotaPolicy.objects.only("pk").get(model=obj.model).pk
