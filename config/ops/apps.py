from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "config.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from config.ops import receivers, sentry, tasks  # noqa: F401  (connect signals)

        sentry.init()
