"""Read reference images ourselves: decode uploads and data: URLs, fetch URLs
through the one SSRF guard, and check every image by its bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import InvalidRequest
from common.images import ImageInfo, decode_data_url, inspect_image
from common.net import FetchError, fetch_untrusted


@dataclass(frozen=True)
class LoadedImage:
    data: bytes
    info: ImageInfo
    source_url: str = ""


def load_images(images: dict[str, list[Any]]) -> dict[str, list[LoadedImage]]:
    return {param: [_load(param, item) for item in items] for param, items in images.items()}


def _load(param: str, source: Any) -> LoadedImage:
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
