from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = _("Jobs and images")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from generations import tasks  # noqa: F401  (registers run_generation, published by name)
        from generations.api import receivers  # noqa: F401  (connects the API's signal receivers)
        from generations.portal import live  # noqa: F401  (publishes job changes to open pages)
        from generations.provenance import checks  # noqa: F401  (registers the signing-key check)
