"""Admin forms and list filters, and the bulk-action bar: its inputs, who acts, the outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import GroupQuota, ModelQuotaPolicy, Period, Quota, User
from accounts.quota import budget
from accounts.quota.layers import LayerCache
from providers.catalog import get_catalog
from providers.labels import model_label


def catalog_choices() -> list[tuple[str, str]]:
    return [(name, model_label(name)) for name in sorted(get_catalog().names())]


def layer_text(source: str) -> str:
    """Where a limit or period comes from (a `Layered` source), in the admin's language."""
    if source.startswith("group "):
        return _("group %(name)s") % {"name": source.removeprefix("group ")}
    names = {
        "person": _("person"),
        "catalog": _("catalog"),
        "model": _("model"),
        "default": _("default"),
    }
    return str(names.get(source, source))


# --- List filters ---------------------------------------------------------------------


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


class PersonGroupFilter(admin.SimpleListFilter):
    title = _("group")
    parameter_name = "group"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (str(pk), name) for pk, name in Group.objects.order_by("name").values_list("pk", "name")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(user__groups__pk=self.value())
        return queryset


class NearLimitFilter(admin.SimpleListFilter):
    """Who is about to run out: none left, or at most a fifth of their limit left."""

    title = _("images left")
    parameter_name = "left"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("none", _("None left")), ("low", _("Near the limit (a fifth or less)"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in {"none", "low"}:
            return queryset
        rows = list(
            queryset.only("pk", "user_id", "model", "used", "reserved", "limit", "unlimited")
        )
        layers = LayerCache(user_ids={q.user_id for q in rows})
        wanted = []
        for quota in rows:
            limit = layers.resolve(user_id=quota.user_id, model=quota.model, quota=quota).limit
            if limit is None:
                continue
            left = budget.left(limit, quota.used, quota.reserved) or 0
            if left == 0 or (self.value() == "low" and left * 5 <= limit):
                wanted.append(quota.pk)
        return queryset.filter(pk__in=wanted)


# --- Edit forms -----------------------------------------------------------------------


class QuotaForm(forms.ModelForm):
    """Only the person's own layer is editable; `reason` goes to the audit log."""

    model = forms.ChoiceField(label=_("Model"), choices=catalog_choices)
    reason = forms.CharField(
        label=_("Why"),
        required=False,
        max_length=500,
        help_text=_("Kept in the quota audit log."),
    )

    class Meta:
        model = Quota
        fields = ["user", "model", "limit", "unlimited"]
        help_texts = {"limit": _("Empty: inherit from the person's groups or the catalog.")}


class PersonQuotaForm(forms.ModelForm):
    """A row of the person page's quota inline: their own layer for one model."""

    # A blank first choice: the inline's empty extra row must not read as "changed".
    model = forms.ChoiceField(
        label=_("Model"), choices=lambda: [("", "---------"), *catalog_choices()]
    )

    class Meta:
        model = Quota
        fields = ["model", "limit", "unlimited"]
        help_texts = {"limit": _("Empty: inherit from groups or the catalog.")}


class GroupQuotaForm(forms.ModelForm):
    model = forms.ChoiceField(label=_("Model"), choices=catalog_choices)
    period = forms.ChoiceField(
        label=_("Period"),
        required=False,
        choices=[("", _("Inherit (the model's)")), *Period.choices],
    )

    class Meta:
        model = GroupQuota
        fields = ["model", "limit", "unlimited", "period"]


class ModelQuotaPolicyForm(forms.ModelForm):
    model = forms.ChoiceField(label=_("Model"), choices=catalog_choices)

    class Meta:
        model = ModelQuotaPolicy
        fields = ["model", "period"]


# --- Bulk-action input ----------------------------------------------------------------


class QuotaInputs(forms.Form):
    """The inputs shown beside the action menu: which model, how many images, why."""

    model = forms.ChoiceField(
        label=_("Model"),
        required=False,
        choices=lambda: [("", "---------"), *catalog_choices()],
    )
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


def action_input(
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


def acting_user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def report(request: HttpRequest, done: int, total: int, what: str) -> None:
    level = messages.SUCCESS if done else messages.WARNING
    messages.add_message(request, level, f"{what}: {done} of {total} changed.")
