"""A field's admin list filter under a title we translate.

The admin titles a field's filter with the field's verbose name. A library's model (the
API key's `created`) or a foreign key declared without one (`channel`, `group`) gives an
English word on every language's page; this gives the filter our own title instead.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import FieldListFilter


def titled(filter_class: type[FieldListFilter], title: Any) -> type[FieldListFilter]:
    """`filter_class` titled `title` (a lazy translation), for a `list_filter` pair."""

    class Titled(filter_class):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.title = title

    Titled.__name__ = Titled.__qualname__ = f"Titled{filter_class.__name__}"
    return Titled
