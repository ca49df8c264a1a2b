from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BoardsConfig(AppConfig):
    name = "boards"
    verbose_name = _("Boards")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from boards.api import schema  # noqa: F401  (adds the /v1/boards routes to the OpenAPI document)
        from boards.selectors import on_shared_boards
        from boards.services import boards_erase
        from generations import erasure, purging

        purging.KEEP_ALSO.append(on_shared_boards)
        erasure.ERASE_ALSO.append(boards_erase)
