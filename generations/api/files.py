"""Signed URLs to our stored copy of a result image.

The token signs the image id (django.core.signing, keyed by SECRET_KEY), so a
URL works without a session, is the same every time it is handed out, expires
DARKROOM_API_URL_MAX_AGE after the image was made (a week by default), and stops
working (404) the moment the image is deleted or its owner is deactivated or erased.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from common.images import EXTENSION, MIME
from generations.models import Image
from generations.sync import run_sync

_signer = signing.Signer(salt="darkroom.api.image-url")
_CHUNK = 256 * 1024


def image_url(image: Image, base_url: str) -> str:
    token = _signer.sign(image.pk.hex)
    ext = EXTENSION.get(image.format, image.format.lower())
    return base_url.rstrip("/") + reverse("api:image-file", args=[token, ext])


def _image_for(token: str) -> Image:
    try:
        image_id = _signer.unsign(token)
    except signing.BadSignature:
        raise Http404 from None
    image = Image.objects.filter(pk=image_id).select_related("generation__user").first()
    max_age = timedelta(seconds=settings.DARKROOM_API_URL_MAX_AGE)
    if image is None or image.created_at + max_age < timezone.now():
        raise Http404
    # A bearer link ends with its owner's access: deactivated, or erased (which deactivates).
    if not image.generation.user.is_active:
        raise Http404
    return image


async def _chunks(fh: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await run_sync(fh.read, _CHUNK):
            yield chunk
    finally:
        await run_sync(fh.close)


async def image_file_response(request: HttpRequest, token: str) -> StreamingHttpResponse:  # noqa: ARG001
    image = await run_sync(_image_for, token)
    fh = await run_sync(image.file.open, "rb")
    response = StreamingHttpResponse(
        _chunks(fh), content_type=MIME.get(image.format, "application/octet-stream")
    )
    response["Content-Length"] = str(image.bytes)
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
