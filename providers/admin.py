"""Channels in the admin: add, edit, switch off and re-order upstreams.

Keys are write-only: the form takes a new key and shows only its last four
characters afterwards; the stored value is encrypted (providers.crypto).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from common.admin_filters import titled
from providers.catalog import get_catalog
from providers.models import Channel, ChannelModel
from providers.registry import PROVIDERS
from providers.services import channel_reenable, channel_set_key, channels_switch


def _format_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(PROVIDERS)]


def _model_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in get_catalog().names()]


class ChannelForm(forms.ModelForm):
    format = forms.ChoiceField(label=_("wire format"), choices=_format_choices)
    base_url = forms.URLField(
        label=_("base URL"),
        required=False,
        assume_scheme="https",
        help_text=_("Blank: the environment variable below, else the catalog's default."),
    )
    new_api_key = forms.CharField(
        label=_("New API key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave blank to keep the current key. The key is never shown again."),
    )
    clear_api_key = forms.BooleanField(
        label=_("Remove the stored key"),
        required=False,
        help_text=_("Then the key comes from the environment variable named below, if any."),
    )

    class Meta:
        model = Channel
        fields = ["name", "format", "enabled", "base_url", "base_url_env", "key_env", "options"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        instance = self.instance
        has_url = data.get("base_url") or data.get("base_url_env") or instance.default_base_url
        if not has_url:
            raise forms.ValidationError(_("Give a base URL or the variable that holds one."))
        if not isinstance(data.get("options") or {}, dict):
            self.add_error("options", _("Options are a JSON object."))
        return data


class ChannelModelForm(forms.ModelForm):
    model = forms.ChoiceField(label=_("public model"), choices=_model_choices)

    class Meta:
        model = ChannelModel
        fields = ["model", "upstream_model", "priority", "weight", "enabled", "options"]


class ChannelModelInline(admin.TabularInline):
    model = ChannelModel
    form = ChannelModelForm
    extra = 0
    fields = ["model", "upstream_model", "priority", "weight", "enabled"]


class ChannelAdmin(admin.ModelAdmin):
    """Registered by accounts.admin.channels, which writes the audit entry of each bulk
    switch (providers sit below accounts and never import it)."""

    # Django 6's default for scheme-less URLs, without 5.2's deprecation warning.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    form = ChannelForm
    inlines = [ChannelModelInline]
    list_display = ["name", "format", "enabled", "health", "key_display", "url_display", "served"]
    list_editable = ["enabled"]
    list_filter = ["format", "enabled", "from_catalog"]
    search_fields = ["name", "routes__model", "routes__upstream_model"]
    readonly_fields = [
        "key_display",
        "default_base_url",
        "from_catalog",
        "health",
        "consecutive_failures",
        "last_error",
        "last_failure_at",
        "last_success_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "format", "enabled", "from_catalog"]}),
        (_("Endpoint"), {"fields": ["base_url", "base_url_env", "default_base_url"]}),
        (_("Key"), {"fields": ["key_display", "new_api_key", "clear_api_key", "key_env"]}),
        (_("Options"), {"fields": ["options"], "classes": ["collapse"]}),
        (
            _("Health"),
            {
                "fields": [
                    "health",
                    "consecutive_failures",
                    "last_error",
                    "last_failure_at",
                    "last_success_at",
                ]
            },
        ),
    ]
    actions = ["end_cooling_off", "switch_off", "switch_on"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Channel]:
        return super().get_queryset(request).prefetch_related("routes")

    @admin.display(description=_("health"))
    def health(self, obj: Channel) -> str:
        if obj.cooling_off():
            assert obj.disabled_until is not None
            until = timezone.localtime(obj.disabled_until).strftime("%H:%M:%S")
            return format_html(
                '<span style="color:#b00">{}</span> {}',
                _("cooling off until %(t)s") % {"t": until},
                obj.disabled_reason,
            )
        if obj.consecutive_failures:
            return format_html(
                "{} ({})",
                _("%(n)s failures in a row") % {"n": obj.consecutive_failures},
                obj.last_error,
            )
        return str(_("ok"))

    @admin.display(description=_("key"))
    def key_display(self, obj: Channel) -> str:
        if obj.key_hint:
            return str(_("stored, ends %(hint)s") % {"hint": obj.key_hint})
        if obj.key_env:
            return str(_("from $%(var)s") % {"var": obj.key_env})
        return str(_("none"))

    @admin.display(description=_("base URL"))
    def url_display(self, obj: Channel) -> str:
        if obj.base_url:
            return obj.base_url
        default = obj.default_base_url or "-"
        return f"${obj.base_url_env} or {default}" if obj.base_url_env else default

    @admin.display(description=_("serves"))
    def served(self, obj: Channel) -> str:
        # A count with a link: listing every model id here made one row per model name.
        routes = obj.routes.all()
        url = reverse("admin:providers_channelmodel_changelist")
        return format_html(
            '<a href="{}?channel__id__exact={}" title="{}">{}</a>',
            url,
            obj.pk,
            ", ".join(r.model for r in routes),
            ngettext("%(n)d model", "%(n)d models", len(routes)) % {"n": len(routes)},
        )

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("clear_api_key"):
            channel_set_key(channel=obj, api_key="")
        elif form.cleaned_data.get("new_api_key"):
            channel_set_key(channel=obj, api_key=form.cleaned_data["new_api_key"])

    @admin.action(description=_("End cooling off now"))
    def end_cooling_off(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset:
            channel_reenable(channel=channel)
        messages.success(
            request, _("Cooling off ended for %(n)d channels.") % {"n": queryset.count()}
        )

    @admin.action(description=_("Switch off"))
    def switch_off(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        self.switch(list(queryset), enabled=False)

    @admin.action(description=_("Switch on"))
    def switch_on(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        self.switch(list(queryset), enabled=True)

    def switch(self, channels: list[Channel], *, enabled: bool) -> None:
        channels_switch(channel_ids=[c.pk for c in channels], enabled=enabled)


@admin.register(ChannelModel)
class ChannelModelAdmin(admin.ModelAdmin):
    """One row per (public model, channel): re-order by editing priority and weight here."""

    form = ChannelModelForm
    list_display = [
        "model",
        "channel",
        "upstream_model",
        "priority",
        "weight",
        "enabled",
        "channel_state",
    ]
    list_editable = ["priority", "weight", "enabled"]
    list_filter = ["model", ("channel", titled(admin.RelatedFieldListFilter, _("channel")))]
    list_select_related = ["channel"]
    ordering = ["model", "-priority", "channel__name"]

    @admin.display(description=_("channel state"))
    def channel_state(self, obj: ChannelModel) -> str:
        if not obj.channel.enabled:
            return str(_("channel switched off"))
        if obj.channel.cooling_off():
            return str(_("cooling off: %(why)s") % {"why": obj.channel.disabled_reason})
        return str(_("ok"))
