from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BoardsConfig(AppConfig):
    name = "boards"
    verbose_name = _("Boards")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from generations import erasure, purging

        from .api import schema  # noqa: F401  (adds the /v1/boards routes to the OpenAPI document)
        from .selectors import on_shared_boards
        from .services import boards_erase

        purging.KEEP_ALSO.append(on_shared_boards)
        erasure.ERASE_ALSO.append(boards_erase)
