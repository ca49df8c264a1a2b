"""Downloads that never hold a whole file in memory, under ASGI as under WSGI.

Django's ASGI handler reads a *synchronous* streaming body into one list before
sending it (a 64 MiB file costs 64 MiB). These responses stream from async
iterators instead: each chunk is read in a worker thread and sent before the next.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import IO

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header
from zipstream import ZIP_STORED, ZipStream

CHUNK = 256 * 1024


def file_chunks(fh: IO[bytes], size: int = CHUNK) -> Iterator[bytes]:
    try:
        while chunk := fh.read(size):
            yield chunk
    finally:
        fh.close()


def field_chunks(field: FieldFile) -> Iterator[bytes]:
    """A stored file's bytes, opened only when the first chunk is asked for."""
    yield from file_chunks(field.storage.open(field.name or "", "rb"))


async def as_async(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    iterator = iter(chunks)

    def step() -> bytes | None:
        return next(iterator, None)

    try:
        while (chunk := await sync_to_async(step, thread_sensitive=False)()) is not None:
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=False)()


def streaming_response(
    request: HttpRequest,
    chunks: Iterable[bytes],
    *,
    content_type: str,
    size: int | None = None,
    download_name: str | None = None,
) -> StreamingHttpResponse:
    # Each server consumes its own kind without buffering: ASGI async, WSGI sync.
    body = as_async(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type=content_type)
    if size is not None:
        response["Content-Length"] = str(size)
    disposition = download_name and content_disposition_header(True, download_name)
    if disposition:
        response["Content-Disposition"] = disposition
    return response


def zip_stream(members: Iterable[tuple[str, FieldFile]]) -> Iterator[bytes]:
    """A stored (not deflated: images are compressed already) zip, built as it is sent.

    Unsized on purpose: a length computed up front would trust every stored size,
    and one wrong size would cut the download short in the middle.
    """
    stream = ZipStream(compress_type=ZIP_STORED)
    for arcname, field in members:
        stream.add(_LazyFile(field), arcname=arcname)
    return iter(stream)


class _LazyFile:
    """Iterable of a stored file's chunks, opened when zipstream reaches it."""

    def __init__(self, field: FieldFile) -> None:
        self.field = field

    def __iter__(self) -> Iterator[bytes]:
        return field_chunks(self.field)


def serve_stored_file(
    request: HttpRequest, field: FieldFile, *, download_name: str | None = None
) -> HttpResponseBase:
    """A stored file to a person who may see it: a redirect to a short-lived signed URL on
    S3 (the bytes never pass through us), otherwise streamed in chunks (ASGI never holds
    the whole file)."""
    if settings.STORAGE_BACKEND == "s3":
        return HttpResponseRedirect(field.storage.url(field.name))
    response = streaming_response(
        request,
        field_chunks(field),
        content_type=mimetypes.guess_type(field.name or "")[0] or "application/octet-stream",
        size=field.size,
        download_name=download_name,
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response
