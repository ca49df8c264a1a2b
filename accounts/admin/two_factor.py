"""django-otp's TOTP device admin, in the person's language: its section titles and search
hint and help texts are plain English in the library (field names: third_party_apps)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.third_party_apps import TOTP_FIELDSETS, TOTP_HELP

if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TranslatedTOTPDeviceAdmin(TOTPDeviceAdmin):
    search_help_text = _("Search by the person's username or email address")

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("help_texts", TOTP_HELP)
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return [
            (TOTP_FIELDSETS.get(name, name) if name else name, options)
            for name, options in super().get_fieldsets(request, obj)
        ]

    @admin.display(description=_("QR code"))
    def qrcode_link(self, device: TOTPDevice) -> Any:
        return super().qrcode_link(device)
