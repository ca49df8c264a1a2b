"""The channel admin, registered here: a bulk switch writes its audit entry by an explicit
call. The pages themselves are providers.admin.ChannelAdmin (providers never import
accounts, so the audit joins one layer up)."""

from __future__ import annotations

from django.contrib import admin

from accounts.audit import audit_channels
from providers.admin import ChannelAdmin
from providers.models import Channel


@admin.register(Channel)
class AuditedChannelAdmin(ChannelAdmin):
    def switch(self, channels: list[Channel], *, enabled: bool) -> None:
        audit_channels(channels, "channel switched on" if enabled else "channel switched off")
        super().switch(channels, enabled=enabled)
