"""Downloads under ASGI stream from async iterators: no whole file, no whole zip in memory."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.db import connections
from django.test import AsyncClient
from django.urls import reverse

from tests.portal_helpers import make_generation

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


async def _signed_in(user: Any) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def _body(response: Any) -> bytes:
    assert response.streaming
    assert response.is_async
    return b"".join([chunk async for chunk in response.streaming_content])


async def test_an_original_streams_in_chunks_under_asgi(user: Any) -> None:
    from asgiref.sync import sync_to_async

    image = await sync_to_async(lambda: make_generation(user).images.get())()
    client = await _signed_in(user)
    response = await client.get(reverse("image_file", args=[image.pk]) + "?download=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")
    body = await _body(response)
    assert body.startswith(b"\x89PNG")
    assert int(response["Content-Length"]) == len(body)


async def test_the_zip_streams_under_asgi_and_opens(user: Any) -> None:
    from asgiref.sync import sync_to_async

    ids = await sync_to_async(
        lambda: [str(make_generation(user, prompt=f"p{i}").images.get().pk) for i in range(3)]
    )()
    client = await _signed_in(user)
    response = await client.post(reverse("images_bulk"), {"action": "zip", "image": ids})
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(BytesIO(await _body(response)))
    assert archive.testzip() is None
    assert len(archive.namelist()) == 3
    assert all(archive.read(name).startswith(b"\x89PNG") for name in archive.namelist())
