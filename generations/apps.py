from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (connects generation_queued to the Celery task)
        from .api import receivers  # noqa: F401  (connects the API's signal receivers)
