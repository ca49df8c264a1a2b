"""Reference images: read new ones ourselves (decode uploads and data: URLs, fetch
URLs through the one SSRF guard, check every image by its bytes), and read a job's
stored ones back (the one reader of their files)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidRequest
from common.images import MIME, ImageInfo, decode_data_url, inspect_image
from common.net import FetchError, fetch_untrusted
from generations.models import ReferenceImage


@dataclass(frozen=True)
class LoadedImage:
    data: bytes
    info: ImageInfo
    source_url: str = ""


def load_images(images: dict[str, list[Any]]) -> dict[str, list[LoadedImage]]:
    return {param: [_load(param, item) for item in items] for param, items in images.items()}


def _load(param: str, source: Any) -> LoadedImage:
    if isinstance(source, LoadedImage):  # read once already (one upload sent to several models)
        return source
    source_url = ""
    if isinstance(source, bytes):
        data = source
    elif hasattr(source, "read"):
        data = _read_upload(source, param)
    elif isinstance(source, str) and source.strip().lower().startswith("data:"):
        data = decode_data_url(source.strip(), param=param)
    elif isinstance(source, str) and source.strip().lower().startswith(("http://", "https://")):
        source_url = source.strip()
        data = _fetch(source_url, param)
    else:
        raise InvalidRequest(
            f"'{param}' must be an uploaded file, an https URL or a data:image/...;base64 URL.",
            param=param,
            code="invalid_image",
        )
    return LoadedImage(data=data, info=inspect_image(data, param=param), source_url=source_url)


def _read_upload(upload: Any, param: str) -> bytes:
    from django.conf import settings

    cap = settings.DARKROOM_MAX_IMAGE_BYTES
    data = upload.read(cap + 1)
    if len(data) > cap:
        raise InvalidRequest(
            f"'{param}' is larger than {cap // (1024 * 1024)} MB.",
            param=param,
            code="image_too_large",
        )
    return bytes(data)


def _fetch(url: str, param: str) -> bytes:
    try:
        return fetch_untrusted(url)
    except FetchError as exc:
        raise InvalidRequest(
            f"Cannot use '{param}' URL: {exc}", param=param, code=exc.code
        ) from exc


@dataclass(frozen=True)
class StoredReference:
    """A reference image a job keeps, read back from storage."""

    param: str
    position: int
    mime: str
    data: bytes


def read_references(references: Iterable[ReferenceImage]) -> list[StoredReference]:
    """The one reader of a job's reference files, in the order they were given.

    Takes the rows (e.g. `generation.references.all()`, so a prefetch is used) and
    sorts them here rather than with another query.
    """
    found = []
    for ref in sorted(references, key=lambda r: (r.param, r.position)):
        with ref.file.open("rb") as fh:
            found.append(StoredReference(ref.param, ref.position, MIME[ref.format], fh.read()))
    return found


def references_by_param(references: Iterable[ReferenceImage]) -> dict[str, list[bytes]]:
    """A job's reference files as a new request takes them: param -> bytes, in order."""
    found: dict[str, list[bytes]] = {}
    for ref in read_references(references):
        found.setdefault(ref.param, []).append(ref.data)
    return found
