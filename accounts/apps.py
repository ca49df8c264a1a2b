from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("People and quotas")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import (  # noqa: F401
            audit_receivers,  # connects the audit signal receivers
            signin,  # notes at each sign-in whether a code is owed
        )
        from accounts.sso import receivers  # noqa: F401  (connects the sign-in receiver)
