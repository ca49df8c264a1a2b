"""django-allauth's single sign-on admin, in the person's language: a few of its fields
carry no verbose name (shown as English field names) and its app form's provider menu no
label. Verbose names set on the fields themselves change no migration (Django's
deconstruct() reads the name given in the code)."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.admin import SocialAppAdmin, SocialAppForm
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

_FIELDS = {
    (SocialApp, "settings"): _("settings"),
    (SocialAccount, "user"): _("person"),
    (SocialToken, "app"): _("application"),
    (SocialToken, "account"): _("social account"),
}
for (model, name), label in _FIELDS.items():
    model._meta.get_field(name).verbose_name = label


class LabelledSocialAppForm(SocialAppForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].label = _("provider")


if admin.site.is_registered(SocialApp):
    admin.site.unregister(SocialApp)


@admin.register(SocialApp)
class LabelledSocialAppAdmin(SocialAppAdmin):
    form = LabelledSocialAppForm
