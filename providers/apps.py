from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = _("Upstreams")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from providers import checks  # noqa: F401  (registers the catalog system check)

        post_migrate.connect(_seed_channels, sender=self)


def _seed_channels(sender: Any, **kwargs: Any) -> None:  # noqa: ARG001
    """After every migrate (and test-database flush): add the catalog's missing channels."""
    from providers.pricing import prices_sync_catalog
    from providers.services import channels_sync_catalog

    channels_sync_catalog()
    prices_sync_catalog()
