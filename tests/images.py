"""Small real images for tests."""

from __future__ import annotations

import base64
import io

from PIL import Image


def png_bytes(width: int = 32, height: int = 32, color: str = "teal", fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format=fmt)
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
