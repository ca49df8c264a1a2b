"""Result images: download them at once (upstream links expire), check them, store them.

Thumbnails come just after the job's answer (`add_thumbnails`, once the success is
committed and published), from the decode `store_images` kept or, for a PNG that it
checked without decoding, from the bytes it kept: a caller waiting on the job waits
for neither the resize nor a PNG's decode, and no image is decoded twice. A portal
job has no caller waiting, only a person watching its card, which shows a success
once its thumbnails exist: its thumbnails are made before it is finished
(`make_thumbnails`), so it is shown the moment it is.
"""

from __future__ import annotations

import logging
import time
import weakref

from django.conf import settings
from django.core.files.base import ContentFile
from PIL.Image import Image as Picture

from common.errors import InvalidRequest
from common.images import inspect_checked, make_thumbnail, thumbnail_of
from common.net import FetchError, fetch_from_hosts
from generations.models import Generation, Image
from generations.provenance import sign_original
from providers.base import ChannelConfig, ProviderError, ResultImage

log = logging.getLogger(__name__)

# Decoded pictures (or, not decoded yet, the original bytes) from store_images, for
# add_thumbnails; dropped with their rows.
_decoded: weakref.WeakKeyDictionary[Image, Picture | bytes] = weakref.WeakKeyDictionary()


def download_results(results: list[ResultImage], channel: ChannelConfig) -> list[bytes]:
    if not results:
        raise ProviderError(
            "upstream returned no images", code="upstream_bad_response", retryable=True
        )
    return [_bytes_of(result, channel) for result in results]


# Tries per result link, and the pause before each retry: a hiccup of the result
# host is retried here, in place, because retrying the job would pay for a new image.
DOWNLOAD_TRIES = 3
DOWNLOAD_PAUSE = 1.0


def _bytes_of(result: ResultImage, channel: ChannelConfig) -> bytes:
    if result.data is not None:
        return result.data
    assert result.url is not None
    for attempt in range(DOWNLOAD_TRIES):
        try:
            return fetch_from_hosts(
                result.url,
                allowed_hosts=channel.result_hosts,
                max_bytes=settings.DARKROOM_RESULT_MAX_BYTES,
                timeout=settings.DARKROOM_FETCH_TIMEOUT,
            )
        except FetchError as exc:
            if not exc.retryable or attempt == DOWNLOAD_TRIES - 1:
                raise _download_failed(exc) from exc
            time.sleep(DOWNLOAD_PAUSE * 2**attempt)
    raise AssertionError("unreachable")


def _download_failed(exc: FetchError) -> ProviderError:
    # Not retryable here: the image was made (and paid for) upstream, and generating
    # it again pays again; dispatch allows that once for an expired link, no more.
    if exc.code == "fetch_failed" and not exc.retryable:
        return ProviderError(
            f"the result link expired or was refused before it could be downloaded: {exc}",
            code="result_expired",
            retryable=False,
        )
    return ProviderError(
        f"could not download the result image: {exc}",
        code="result_download_failed",
        retryable=False,
    )


def store_images(generation: Generation, images: list[bytes]) -> list[Image]:
    """Write the files to storage; return unsaved Image rows (thumbnails: add_thumbnails).

    All or nothing: if one image fails (unusable, or the store refused it), the files
    already written for the others are removed before the error goes on.
    """
    stored: list[Image] = []
    try:
        for index, data in enumerate(images):
            stored.append(_store_one(generation, index, data))
    except BaseException:
        discard_images(stored)
        raise
    return stored


def _store_one(generation: Generation, index: int, data: bytes) -> Image:
    try:
        info, picture = inspect_checked(data, param="image")
    except InvalidRequest as exc:
        raise ProviderError(
            f"upstream sent an unusable image: {exc.message}",
            code="upstream_bad_response",
            retryable=True,
        ) from exc
    original = data
    data, info, credentials = sign_original(generation, data, info)
    image = Image(
        generation=generation,
        index=index,
        width=info.width,
        height=info.height,
        format=info.format,
        bytes=info.bytes,
        sha256=info.sha256,
        **credentials.fields(),
    )
    image.file.save(f"image.{info.ext}", ContentFile(data), save=False)
    # Signing adds a manifest, never pixels: the unsigned original makes the thumbnail.
    _decoded[image] = original if picture is None else picture
    return image


def add_thumbnails(images: list[Image]) -> None:
    """Make and save the thumbnails the (saved) images lack. One that fails is logged and
    left: the portal shows the original instead, and the thumbnail view tries again."""
    for image in make_thumbnails(images):
        Image.objects.filter(pk=image.pk).update(
            thumbnail=image.thumbnail.name, thumbnail_bytes=image.thumbnail_bytes
        )


def make_thumbnails(images: list[Image]) -> list[Image]:
    """Make and store the thumbnails the images lack, their rows left unsaved; returns
    the images that got one. One that fails is logged and left, as in add_thumbnails."""
    made = []
    for image in images:
        if image.thumbnail:
            continue
        try:
            thumb = _thumbnail(image)
            image.thumbnail.save("thumb.webp", ContentFile(thumb), save=False)
        except Exception:
            log.exception("could not make the thumbnail of image %s", image.pk)
            continue
        image.thumbnail_bytes = len(thumb)  # counted in the person's storage use
        made.append(image)
    return made


def _thumbnail(image: Image) -> bytes:
    size = settings.DARKROOM_THUMBNAIL_SIZE
    kept = _decoded.pop(image, None)
    if isinstance(kept, bytes):
        return make_thumbnail(kept, size=size)
    if kept is not None:
        return thumbnail_of(kept, size)
    with image.file.open("rb") as fh:
        return make_thumbnail(fh.read(), size=size)


def discard_images(images: list[Image]) -> None:
    """Remove the files of images never committed; one that cannot go is logged and left
    (a store that is away refuses the delete too), never raised over the real error."""
    for image in images:
        for field in (image.file, image.thumbnail):
            try:
                field.delete(save=False)
            except Exception:
                log.warning("could not remove %s", field.name, exc_info=True)
