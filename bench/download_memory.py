"""Peak memory of serving one large file under ASGI: before (FileResponse) and after.

Drives Django's own ASGIHandler.send_response, the code that turns a response into
ASGI messages, with a `send` that drops the bytes, and reads Python's peak allocation
(tracemalloc) for each way of building the response.

    .venv/bin/python bench/download_memory.py [MiB]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-insecure-key")

import django

django.setup()

from django.core.handlers.asgi import ASGIHandler, ASGIRequest  # noqa: E402
from django.http import FileResponse  # noqa: E402
from zipstream import ZIP_STORED, ZipStream  # noqa: E402

from common.streaming import file_chunks, streaming_response  # noqa: E402


async def _drain(response: Any) -> int:
    sent = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal sent
        sent += len(message.get("body", b""))

    await ASGIHandler().send_response(response, send)
    return sent


def _peak(make: Any) -> tuple[float, int]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    sent = asyncio.run(_drain(make()))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20, sent


def _asgi_request() -> ASGIRequest:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    return ASGIRequest(scope, tempfile.SpooledTemporaryFile())


def _old_zip(paths: list[Path]) -> Any:
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 2**20)  # noqa: SIM115
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in paths:
            archive.writestr(path.name, path.read_bytes())
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename="x.zip")


def _new_zip(paths: list[Path]) -> Any:
    stream = ZipStream(compress_type=ZIP_STORED)
    for path in paths:
        stream.add(file_chunks(path.open("rb")), arcname=path.name)
    return streaming_response(_asgi_request(), iter(stream), content_type="application/zip")


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp, "big.bin")
        with big.open("wb") as fh:
            for _ in range(mib):
                fh.write(os.urandom(2**20))
        parts = []
        for i in range(8):
            part = Path(tmp, f"part{i}.bin")
            part.write_bytes(os.urandom(mib * 2**20 // 8))
            parts.append(part)
        cases = {
            "file, before (FileResponse)": lambda: FileResponse(big.open("rb")),
            "file, after (streaming_response)": lambda: streaming_response(
                _asgi_request(), file_chunks(big.open("rb")), content_type="x/y"
            ),
            "zip of 8 files, before (zipfile + spool)": lambda: _old_zip(parts),
            "zip of 8 files, after (zipstream-ng)": lambda: _new_zip(parts),
        }
        print(f"{mib} MiB served through Django's ASGI handler; peak Python allocation:")
        for name, make in cases.items():
            peak, sent = _peak(make)
            print(f"  {name:42s} {peak:7.1f} MiB  ({sent / 2**20:.0f} MiB sent)")


if __name__ == "__main__":
    main()
