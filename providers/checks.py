from typing import Any

from django.core import checks

from providers.catalog import CatalogError, load_catalog


@checks.register()
def catalog_is_valid(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse to start on a malformed model catalog."""
    try:
        load_catalog()
    except CatalogError as exc:
        return [checks.Error(f"Model catalog is malformed: {exc}", id="darkroom.E001")]
    return []
