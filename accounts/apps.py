from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("People and quotas")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.sso import receivers  # noqa: F401  (connects the sign-in receiver)
