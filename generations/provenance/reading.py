"""Read an image's manifest back, as served (for the image page's JSON link)."""

from __future__ import annotations

import io
import json
from typing import Any

import c2pa


class ManifestMissing(Exception):
    """The file carries no C2PA manifest (signing failed, or stored before signing)."""


def read_manifest(data: bytes, mime: str) -> dict[str, Any]:
    """The manifest store as the c2pa library reports it, with its validation state."""
    try:
        with c2pa.Reader(mime, io.BytesIO(data)) as reader:
            store = json.loads(reader.json())
            store["validation_state"] = reader.get_validation_state()
    except c2pa.C2paError as exc:
        raise ManifestMissing(str(exc)) from exc
    return dict(store)
