"""Model labels in the person's language, for every page that names a model."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from providers.catalog import get_catalog

# Catalog labels are a product name plus, for some, an English description of the
# variant: the name stays as it is, the description is translated.
_LABEL_PARTS = [
    (", several references", gettext_lazy("%(name)s, several references")),
    (", text to image", gettext_lazy("%(name)s, text to image")),
    (" (reseller)", gettext_lazy("%(name)s (reseller)")),
]


def model_label(name: str) -> str:
    """A model's label in the person's language: the name kept, its description translated."""
    spec = get_catalog().get(name)
    label = spec.label if spec else name
    for suffix, text in _LABEL_PARTS:
        if label.endswith(suffix):
            return str(text) % {"name": label[: -len(suffix)]}
    return label
