"""Everyone's API keys in the admin, on the library's APIKeyModelAdmin."""

# Adding a key in the admin shows the full key once in a message; the list shows only
# prefixes.

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from accounts.admin.forms import acting_user, catalog_choices
from accounts.api_keys.services import api_key_audit, api_keys_revoke
from accounts.models import ApiKey
from accounts.quota.caps import CAP_FIELDS, key_cap_set
from common.admin_filters import titled

# The library registers its own (unused) APIKey model; one "API keys" entry is enough.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class ApiKeyForm(forms.ModelForm):
    """Models are picked from the catalog, never typed: a typo would silently allow nothing."""

    allowed_models = forms.MultipleChoiceField(
        label=_("allowed models"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every model."),
    )
    cap_model = forms.ChoiceField(label=_("capped model"), required=False)

    class Meta:
        model = ApiKey
        fields = [
            "name",
            "user",
            "expiry_date",
            "revoked",
            "allowed_models",
            "image_cap",
            "cap_period",
            "cap_model",
        ]
        # The library's fields carry no translated names nor help texts (read-only ones
        # take these too).
        labels = {
            "name": _("name"),
            "user": _("person"),
            "expiry_date": _("expires"),
            "revoked": _("revoked"),
        }
        help_texts = {
            "name": _("A name to tell the key by: need not be unique, at most 50 characters."),
            "expiry_date": _("Past this time, requests with this key fail. Empty: never."),
            "revoked": _("Once revoked, requests with this key fail. This is for good."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = catalog_choices()
        allowed, capped = self.fields["allowed_models"], self.fields["cap_model"]
        assert isinstance(allowed, forms.ChoiceField)
        assert isinstance(capped, forms.ChoiceField)
        allowed.choices = choices
        capped.choices = [("", _("all models")), *choices]

    def clean_allowed_models(self) -> list[str]:
        return list(self.cleaned_data["allowed_models"])


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    form = ApiKeyForm
    list_display = (  # type: ignore[assignment]
        "key_prefix",
        "key_name",
        "key_created",
        "key_expires",
        "key_expired",
        "key_revoked",
        "user",
        "last_used_at",
        "cap_display",
    )
    list_filter = (  # type: ignore[assignment]
        ("created", titled(admin.DateFieldListFilter, _("created"))),
        ("revoked", titled(admin.BooleanFieldListFilter, _("revoked"))),
    )
    search_fields = (*APIKeyModelAdmin.search_fields, "user__username", "user__email")  # type: ignore[assignment]
    raw_id_fields = ("user",)
    actions = ("revoke",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The counters move only through reservations and settlements; last use only by use.
        counters = ("last_used_at", "cap_used", "cap_reserved", "cap_since")
        # The library's read-only fields (a revoked key's name, expiry and revocation) take
        # the form's labels and help texts; its prefix column is ours, translated.
        shown = [
            f if f != "prefix" else "key_prefix" for f in super().get_readonly_fields(request, obj)
        ]
        return (*shown, *counters)

    # The library's columns carry English names; these carry ours, translated.
    @admin.display(description=_("prefix"), ordering="prefix")
    def key_prefix(self, key: ApiKey) -> str:
        return key.prefix

    @admin.display(description=_("name"), ordering="name")
    def key_name(self, key: ApiKey) -> str:
        return key.name

    @admin.display(description=_("created"), ordering="created")
    def key_created(self, key: ApiKey) -> Any:
        return key.created

    @admin.display(description=_("expired"), boolean=True)
    def key_expired(self, key: ApiKey) -> bool:
        return key.has_expired

    @admin.display(description=_("expires"), ordering="expiry_date")
    def key_expires(self, key: ApiKey) -> Any:
        return key.expiry_date

    @admin.display(description=_("revoked"), boolean=True, ordering="revoked")
    def key_revoked(self, key: ApiKey) -> bool:
        return key.revoked

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
            # As the library's admin does, with the message in the person's language.
            key = self.model.objects.assign_key(obj)
            obj.save()
            message = _("The API key for %(name)s is: %(key)s. Copy it now: it is shown only once.")
            messages.warning(request, message % {"name": obj.name, "key": key})
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

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        api_keys_revoke(keys=queryset.select_related("user"))
