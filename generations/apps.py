from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = _("Jobs and images")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers run_generation, published by name)
        from .api import receivers  # noqa: F401  (connects the API's signal receivers)
        from .portal import live  # noqa: F401  (publishes job changes to open pages)
        from .provenance import checks  # noqa: F401  (registers the signing-key check)
