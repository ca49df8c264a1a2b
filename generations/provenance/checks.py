"""Refuse to start with half a signing configuration or one that cannot be read."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register()
def c2pa_signer_is_usable(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    cert, key = settings.DARKROOM_C2PA_CERT, settings.DARKROOM_C2PA_KEY
    if bool(cert) != bool(key):
        return [
            checks.Error(
                "Set both DARKROOM_C2PA_CERT and DARKROOM_C2PA_KEY, or neither "
                "(then a local signing chain is made).",
                id="darkroom.E101",
            )
        ]
    if not cert:
        return []
    from generations.provenance.keys import signing_material

    try:
        signing_material.cache_clear()
        signing_material()
    except Exception as exc:
        return [
            checks.Error(f"The C2PA certificate or key cannot be used: {exc}", id="darkroom.E102")
        ]
    return []
