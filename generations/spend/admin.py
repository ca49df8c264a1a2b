"""Prices, money budgets, budget alerts, the content policy and the moderation review
list in the admin. Every edit goes through generations.spend.changes (audited, with
from/to values); spent and reserved money are never edited here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from common.admin_filters import titled
from generations.spend.changes import budget_change, policy_block, policy_unblock, price_change
from generations.spend.models import Budget, BudgetAlert, ModerationRefusal, PolicyTerm
from generations.spend.moderation import pattern_check
from providers.models import Price


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("model", "channel", "per_image", "per_megapixel", "updated_at")
    list_filter = (("channel", titled(admin.RelatedFieldListFilter, _("channel"))),)
    fields = ("channel", "model", "per_image", "per_megapixel")

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name in ("per_image", "per_megapixel"):
            kwargs["min_value"] = 0  # the service raises on a negative price: a server error
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Price, form: Any, change: bool) -> None:
        obj.pk = price_change(
            channel=obj.channel,
            model=obj.model,
            per_image=obj.per_image,
            per_megapixel=obj.per_megapixel,
        ).pk


class _GroupLabelled(forms.ModelForm):
    # The models' `group` keys carry no verbose name; this one is translated.
    class Meta:
        fields = ()  # the admin names them
        labels = {"group": _("group")}


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    form = _GroupLabelled
    list_display = ("__str__", "monthly", "hard", "spent", "reserved", "period_start")
    fields = ("group", "monthly", "hard", "alert_to", "spent", "reserved", "period_start")
    readonly_fields = ("spent", "reserved", "period_start")
    filter_horizontal = ("alert_to",)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "monthly":
            kwargs["min_value"] = 0  # the service raises on a negative budget: a server error
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Budget, form: Any, change: bool) -> None:
        obj.pk = budget_change(group=obj.group, monthly=obj.monthly, hard=obj.hard).pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        form.instance.alert_to.set(form.cleaned_data.get("alert_to") or [])


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "budget",
        "threshold",
        "spent",
        "limit",
        "currency",
        "mailed",
        "webhook_status",
        "webhook_delivered",
        "next_try_at",
    )
    list_filter = ("threshold",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _PolicyTermForm(_GroupLabelled):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == PolicyTerm.Kind.PATTERN and data.get("term"):
            try:
                pattern_check(data["term"])
            except ValueError as exc:
                # Saved, the pattern would fail every request its policy applies to.
                raise forms.ValidationError(
                    _("This is not a regular expression: %(error)s"),
                    params={"error": str(exc.__cause__ or exc)},
                ) from exc
        return data


@admin.register(PolicyTerm)
class PolicyTermAdmin(admin.ModelAdmin):
    form = _PolicyTermForm
    list_display = ("term", "kind", "group_name")
    list_filter = ("kind", ("group", titled(admin.RelatedFieldListFilter, _("group"))))
    fields = ("term", "kind", "group")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # block a new term, unblock the old one: each audited

    @admin.display(description=_("group"), ordering="group__name")
    def group_name(self, term: PolicyTerm) -> Any:
        return term.group

    def save_model(self, request: HttpRequest, obj: PolicyTerm, form: Any, change: bool) -> None:
        row = policy_block(
            term=obj.term, group=obj.group, pattern=obj.kind == PolicyTerm.Kind.PATTERN
        )
        obj.pk = row.pk

    def delete_model(self, request: HttpRequest, obj: PolicyTerm) -> None:
        policy_unblock(term=obj.term, group=obj.group)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PolicyTerm]) -> None:
        for row in queryset:
            self.delete_model(request, row)


@admin.register(ModerationRefusal)
class ModerationRefusalAdmin(admin.ModelAdmin):
    """The staff review list: who was refused, on which model, by which policy."""

    list_display = ("created_at", "username", "model", "policy", "source", "reviewed")
    list_filter = ("reviewed", "policy", "source")
    search_fields = ("username", "prompt_sha256")
    actions = ("mark_reviewed",)
    readonly_fields = ("user", "username", "model", "policy", "prompt_sha256", "source")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Mark as reviewed"))
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[ModerationRefusal]) -> None:
        queryset.update(reviewed=True)
