"""Images are judged by their bytes: format, size, pixels, and whether they decode."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import random
import struct
import warnings
import zlib
from collections.abc import Callable
from typing import Any, cast

import pytest
from PIL import Image

from common.errors import InvalidRequest
from common.images import (
    decode_base64_image,
    decode_data_url,
    inspect_checked,
    inspect_decoded,
    inspect_image,
    make_thumbnail,
    thumbnail_of,
)


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def photo(width: int = 64, height: int = 48, mode: str = "RGB") -> Image.Image:
    return Image.linear_gradient("L").resize((width, height)).convert(mode)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@functools.cache
def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height, all black: a few KB on disk, huge in memory."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def refusal(data: bytes, code: str) -> str:
    with pytest.raises(InvalidRequest) as info:
        inspect_image(data, param="image")
    assert info.value.code == code, info.value.message
    # The check results get (a PNG without decoding) refuses the same files the same way.
    with pytest.raises(InvalidRequest) as checked:
        inspect_checked(data, param="image")
    assert (checked.value.code, checked.value.message) == (code, info.value.message)
    assert info.value.param == "image"
    return info.value.message


# --- what we accept --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mode", "expected"),
    [
        ("PNG", "RGBA", ("PNG", "image/png", "png")),
        ("PNG", "P", ("PNG", "image/png", "png")),
        ("JPEG", "RGB", ("JPEG", "image/jpeg", "jpg")),
        ("JPEG", "CMYK", ("JPEG", "image/jpeg", "jpg")),
        ("WEBP", "RGB", ("WEBP", "image/webp", "webp")),
        ("WEBP", "RGBA", ("WEBP", "image/webp", "webp")),
    ],
)
def test_it_accepts_png_jpeg_and_webp(fmt: str, mode: str, expected: tuple[str, str, str]) -> None:
    data = encode(photo(64, 48, mode), fmt)
    info = inspect_image(data, param="image")
    assert (info.format, info.mime, info.ext) == expected
    assert (info.width, info.height) == (64, 48)
    assert info.bytes == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()


def test_it_accepts_a_multi_picture_jpeg_as_jpeg() -> None:
    # Phone cameras write MPO: a JPEG with extra frames. Pillow names it "MPO".
    data = encode(photo(), "MPO", save_all=True, append_images=[photo()])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    info = inspect_image(data, param="image")
    assert (info.format, info.mime, info.ext) == ("JPEG", "image/jpeg", "jpg")


# --- what we refuse by format ----------------------------------------------------------


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (SVG, "SVG"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>", "SVG"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
        (encode(photo(), "GIF"), "GIF"),
        (encode(photo(), "TIFF"), "TIFF"),
        (encode(photo(), "BMP"), "BMP"),
        (b"just some text pretending to be a png", "text"),
        (b"\x00\x01\x02\xff\xfe" * 20, "an unknown format"),
    ],
    ids=["svg-xml", "svg", "html", "gif", "tiff", "bmp", "text", "binary"],
)
def test_it_refuses_other_formats_and_names_what_it_got(data: bytes, kind: str) -> None:
    message = refusal(data, "invalid_image_format")
    assert message == f"image must be PNG, JPEG or WebP; got {kind}"


def test_it_refuses_empty_data() -> None:
    refusal(b"", "invalid_image")


# --- damaged files ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_it_refuses_a_truncated_image(fmt: str) -> None:
    data = encode(photo(256, 256, "RGB"), fmt)
    refusal(data[: len(data) * 2 // 3], "invalid_image")


def test_it_refuses_a_png_with_a_corrupted_chunk() -> None:
    data = bytearray(encode(photo(256, 256), "PNG"))
    data[len(data) // 2] ^= 0xFF  # inside IDAT: the CRC no longer matches
    refusal(bytes(data), "invalid_image")


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        b"\xff\xd8\xff" + b"\x00" * 100,
        b"RIFF\0\0\0\0WEBPjunk",
    ],
    ids=["png", "jpeg", "webp"],
)
def test_it_calls_a_broken_file_of_our_formats_damaged(data: bytes) -> None:
    assert "damaged" in refusal(data, "invalid_image")


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_the_result_check_decodes_what_has_no_checksums(fmt: str) -> None:
    info, decoded = inspect_checked(encode(photo(), fmt), param="image")
    assert decoded is not None
    assert decoded.size == (info.width, info.height)


def test_the_result_check_leaves_a_png_undecoded_its_checksums_vouch_for_it() -> None:
    data = encode(photo(), "PNG")
    info, decoded = inspect_checked(data, param="image")
    assert decoded is None
    assert info == inspect_image(data, param="image")


# --- size and pixel limits ---------------------------------------------------------------


def test_it_refuses_an_image_over_the_byte_limit(settings: Any) -> None:
    noise = Image.frombytes("RGB", (64, 64), random.Random(0).randbytes(64 * 64 * 3))
    data = encode(noise, "PNG")
    settings.DARKROOM_MAX_IMAGE_BYTES = 1024
    message = refusal(data, "image_too_large")
    assert message.endswith("; the limit is 1 KB")


def test_it_names_sizes_in_megabytes(settings: Any) -> None:
    settings.DARKROOM_MAX_IMAGE_BYTES = 20 * 1024 * 1024
    message = refusal(b"\x89PNG" + b"\x00" * (45 * 1024 * 1024), "image_too_large")
    assert message == "image is 45 MB; the limit is 20 MB"


def test_it_gives_exact_sizes_when_just_over_the_limit(settings: Any) -> None:
    settings.DARKROOM_MAX_IMAGE_BYTES = 20 * 1024 * 1024
    message = refusal(b"\x00" * (20 * 1024 * 1024 + 1), "image_too_large")
    assert message == "image is 20971521 bytes; the limit is 20971520 bytes"


def test_it_accepts_an_image_exactly_at_the_limits(settings: Any) -> None:
    data = encode(photo(100, 40), "PNG")
    settings.DARKROOM_MAX_IMAGE_BYTES = len(data)
    settings.DARKROOM_MAX_IMAGE_PIXELS = 4000
    assert inspect_image(data, param="image").width == 100


def test_it_refuses_an_image_over_the_pixel_limit(settings: Any) -> None:
    settings.DARKROOM_MAX_IMAGE_PIXELS = 3999
    message = refusal(encode(photo(100, 40), "PNG"), "image_too_many_pixels")
    assert message == "image is 100x40 pixels; the limit is 0.003999 megapixels"


@pytest.mark.parametrize(
    ("width", "height", "says"),
    [
        # Over our 40 MP limit, under Pillow's own: our header check stops it.
        (7000, 7000, "image is 7000x7000 pixels; the limit is 40 megapixels"),
        # Over Pillow's limit, where Pillow would only warn.
        (10000, 10000, "image has more than 89.4785 megapixels; the limit is 40 megapixels"),
        # Over twice Pillow's limit, where Pillow raises.
        (20000, 20000, "image has more than 178.957 megapixels; the limit is 40 megapixels"),
    ],
)
def test_it_refuses_a_decompression_bomb_without_leaking_a_warning(
    settings: Any, width: int, height: int, says: str
) -> None:
    settings.DARKROOM_MAX_IMAGE_PIXELS = 40_000_000
    data = png_bomb(width, height)
    assert len(data) < 100_000
    filters_before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        message = refusal(data, "image_too_many_pixels")
        with pytest.raises(InvalidRequest):
            make_thumbnail(data, size=64)
    assert message == says
    assert [w.message for w in caught] == []
    assert warnings.filters == filters_before


# --- data URLs and base64 ----------------------------------------------------------------


PNG = encode(photo(), "PNG")
B64 = base64.b64encode(PNG).decode()


@pytest.mark.parametrize(
    "value",
    [
        f"data:image/png;base64,{B64}",
        f"DATA:IMAGE/PNG;BASE64,{B64}",
        f"  data:image/png;base64,{B64}\n",
        "data:image/png;base64," + "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76)),
        f"data:image/png;base64,{B64.rstrip('=')}",
        f"data:image/png;name=a.png;base64,{B64}",
        # The declared type is not trusted either way; the bytes decide later.
        f"data:image/jpeg;base64,{B64}",
    ],
    ids=[
        "plain",
        "upper-case",
        "padded-with-space",
        "wrapped",
        "no-padding",
        "params",
        "mislabeled",
    ],
)
def test_it_decodes_data_urls(value: str) -> None:
    assert decode_data_url(value, param="image") == PNG


@pytest.mark.parametrize(
    ("value", "code", "says"),
    [
        ("data:image/png;base64,!!!not base64!!!", "invalid_image", "not valid base64"),
        ("data:image/png;base64,", "invalid_image", "empty"),
        ("data:image/png,%89PNG", "invalid_image", "must be base64-encoded"),
        (f"data:text/html;base64,{B64}", "invalid_image_format", "got text/html"),
        (f"data:;base64,{B64}", "invalid_image_format", "got no media type"),
        ("https://example.com/a.png", "invalid_image", "expected a data URL"),
        ("data:image/png;base64", "invalid_image", "expected a data URL"),
    ],
)
def test_it_refuses_bad_data_urls(value: str, code: str, says: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        decode_data_url(value, param="image[0]")
    assert (info.value.code, info.value.param) == (code, "image[0]")
    assert says in info.value.message


def test_it_refuses_an_oversize_data_url_before_decoding(settings: Any) -> None:
    settings.DARKROOM_MAX_IMAGE_BYTES = len(PNG) - 1
    with pytest.raises(InvalidRequest) as info:
        decode_data_url(f"data:image/png;base64,{B64}", param="image")
    assert info.value.code == "image_too_large"


def test_it_allows_a_data_url_exactly_at_the_byte_limit(settings: Any) -> None:
    settings.DARKROOM_MAX_IMAGE_BYTES = len(PNG)
    assert decode_data_url(f"data:image/png;base64,{B64}", param="image") == PNG


@pytest.mark.parametrize(
    "value",
    [
        B64,
        f"data:image/png;base64,{B64}",
        base64.urlsafe_b64encode(PNG).decode(),
        "\n".join(B64[i : i + 64] for i in range(0, len(B64), 64)),
    ],
    ids=["bare", "data-url", "urlsafe", "wrapped"],
)
def test_it_decodes_bare_base64_or_a_data_url(value: str) -> None:
    assert decode_base64_image(value, param="b64_json") == PNG


@pytest.mark.parametrize("value", ["", "   ", "%%%%", "abc$def"])
def test_it_refuses_garbage_base64(value: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        decode_base64_image(value, param="b64_json")
    assert (info.value.code, info.value.param) == ("invalid_image", "b64_json")


# --- thumbnails --------------------------------------------------------------------------


Thumbnailer = Callable[[bytes, int], bytes]


def _with_inspection(data: bytes, size: int) -> bytes:
    info, decoded = inspect_decoded(data, param="image")
    assert info == inspect_image(data, param="image")
    return thumbnail_of(decoded, size)


def _after_result_check(data: bytes, size: int) -> bytes:
    info, decoded = inspect_checked(data, param="image")
    assert info == inspect_image(data, param="image")
    return make_thumbnail(data, size=size) if decoded is None else thumbnail_of(decoded, size)


@pytest.fixture(
    params=[
        lambda data, size: make_thumbnail(data, size=size),
        _with_inspection,
        _after_result_check,
    ],
    ids=["alone", "with-inspection", "after-result-check"],
)
def thumbnailer(request: Any) -> Thumbnailer:
    """Both ways a thumbnail is made: alone, or from the decode that inspects a result."""
    return cast(Thumbnailer, request.param)


def thumb_of(data: bytes, size: int, thumbnailer: Thumbnailer) -> Image.Image:
    out = thumbnailer(data, size)
    assert inspect_image(out, param="thumb").format == "WEBP"
    return Image.open(io.BytesIO(out))


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(400, 200, (100, 50)), (150, 600, (25, 100)), (300, 300, (100, 100)), (60, 30, (60, 30))],
)
def test_it_makes_a_webp_thumbnail_keeping_the_aspect(
    width: int, height: int, expected: tuple[int, int], thumbnailer: Thumbnailer
) -> None:
    assert thumb_of(encode(photo(width, height), "PNG"), 100, thumbnailer).size == expected


def test_it_turns_the_thumbnail_upright_from_exif(thumbnailer: Thumbnailer) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees: portrait
    data = encode(photo(200, 100), "JPEG", exif=exif.tobytes())
    assert thumb_of(data, 100, thumbnailer).size == (50, 100)


def test_it_keeps_transparency_in_the_thumbnail(thumbnailer: Thumbnailer) -> None:
    img = Image.new("RGBA", (200, 200), (255, 0, 0, 0))
    thumb = thumb_of(encode(img, "PNG"), 50, thumbnailer)
    assert thumb.mode == "RGBA"
    assert thumb.getpixel((25, 25))[3] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("mode", "fmt", "options"),
    [
        ("P", "PNG", {"transparency": 0}),
        ("P", "PNG", {}),
        ("CMYK", "JPEG", {}),
        ("L", "JPEG", {}),
        ("LA", "PNG", {}),
        ("1", "PNG", {}),
        ("I;16", "PNG", {}),
    ],
)
def test_it_thumbnails_every_colour_mode(
    mode: str, fmt: str, options: dict[str, Any], thumbnailer: Thumbnailer
) -> None:
    data = encode(photo(120, 80, mode), fmt, **options)
    assert thumb_of(data, 60, thumbnailer).size == (60, 40)


def test_it_refuses_to_thumbnail_something_that_is_not_an_image() -> None:
    with pytest.raises(InvalidRequest) as info:
        make_thumbnail(SVG, size=64)
    assert info.value.code == "invalid_image_format"
