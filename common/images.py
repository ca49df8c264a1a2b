"""Every image that comes in is checked by its bytes.

The format is what Pillow finds in the bytes, never a file name or a declared type.
Size and pixel limits are checked before anything is decoded, and then the whole image
is decoded once, so truncated or corrupt files are refused here rather than later.
Every refusal is an `InvalidRequest` naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from common.errors import InvalidRequest

# The formats we take and serve -> their MIME type and file extension: the one table.
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSION = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}

# Pillow format -> (format we report, mime, extension). MPO is what Pillow calls a
# JPEG with extra frames (many phone cameras write them); it is a JPEG to everyone else.
_ACCEPTED = {
    **{fmt: (fmt, MIME[fmt], EXTENSION[fmt]) for fmt in MIME},
    "MPO": ("JPEG", MIME["JPEG"], EXTENSION["JPEG"]),
}
_PILLOW_FORMATS = ("PNG", "JPEG", "WEBP")  # only these parsers ever see untrusted bytes

# Files that start like ours but that Pillow cannot open are damaged, not another format.
_OWN_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
# For the refusal message only: what a file we will not open most likely is.
_SIGNATURES = (
    (b"GIF8", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"%PDF", "PDF"),
    (b"\x00\x00\x01\x00", "ICO"),
)
_DATA_URL = re.compile(r"data:(?P<type>[^,]*?),(?P<data>.*)\Z", re.IGNORECASE | re.DOTALL)
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "PNG" | "JPEG" | "WEBP"
    mime: str  # image/png ...
    ext: str  # png | jpg | webp
    width: int
    height: int
    bytes: int
    sha256: str


def inspect_image(data: bytes, *, param: str) -> ImageInfo:
    """Check an image fully; return what it is, or raise InvalidRequest."""
    with _decoded(data, param=param) as img:
        return _info(img, data)


def inspect_decoded(data: bytes, *, param: str) -> tuple[ImageInfo, Image.Image]:
    """`inspect_image`, and the decoded image with it: `thumbnail_of` it later, no decode again."""
    with _decoded(data, param=param) as img:
        # Leaving the block closes only the file; the decoded pixels stay usable.
        return _info(img, data), img


def inspect_checked(data: bytes, *, param: str) -> tuple[ImageInfo, Image.Image | None]:
    """`inspect_decoded`, but a PNG is not decoded: every PNG chunk carries a CRC, and
    verify() reads and checks them all to IEND, so a truncated or damaged PNG is refused
    here all the same. Other formats are decoded (and returned, for `thumbnail_of`).

    For results, whose answer waits on this check: decoding a 1024x1024 PNG took 4.7 ms
    of the answer's time (bench P1); its thumbnail decodes it after the answer instead.
    """
    _check_byte_size(len(data), param=param)
    with _opened(data, param=param) as img:
        img.verify()  # chunk checksums and structure, without decoding pixels
        if img.format == "PNG":
            return _info(img, data), None
    return inspect_decoded(data, param=param)


@contextmanager
def _decoded(data: bytes, *, param: str) -> Iterator[Image.Image]:
    """The image checked and decoded to the end, or InvalidRequest."""
    _check_byte_size(len(data), param=param)
    with _opened(data, param=param) as img:
        img.verify()  # chunk checksums and structure, without decoding pixels
    with _opened(data, param=param) as img:
        img.load()  # verify() leaves the image unusable; decode a fresh one to the end
        yield img


def _info(img: Image.Image, data: bytes) -> ImageInfo:
    name, mime, ext = _ACCEPTED[str(img.format)]
    width, height = img.size
    return ImageInfo(
        format=name,
        mime=mime,
        ext=ext,
        width=width,
        height=height,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def decode_data_url(value: str, *, param: str) -> bytes:
    """The bytes of a `data:image/...;base64,...` URL."""
    match = _DATA_URL.match(value.strip())
    if match is None:
        raise InvalidRequest(
            "expected a data URL like data:image/png;base64,...", param=param, code="invalid_image"
        )
    media_type, *options = (part.strip().lower() for part in match["type"].split(";"))
    if not media_type.startswith("image/"):
        raise InvalidRequest(
            f"data URL must hold an image (image/png, image/jpeg or image/webp); "
            f"got {media_type or 'no media type'}",
            param=param,
            code="invalid_image_format",
        )
    if "base64" not in options:
        raise InvalidRequest(
            "data URL must be base64-encoded (data:image/png;base64,...)",
            param=param,
            code="invalid_image",
        )
    return _b64decode(match["data"], param=param)


def decode_base64_image(value: str, *, param: str) -> bytes:
    """The bytes of bare base64 or of a data URL; clients and upstreams send both."""
    if value.lstrip()[:5].lower() == "data:":
        return decode_data_url(value, param=param)
    return _b64decode(value, param=param)


def make_thumbnail(data: bytes, *, size: int) -> bytes:
    """A WebP whose longest side is at most `size`, upright, in the original's proportions."""
    with _opened(data, param=None) as img:
        img.draft("RGB", (size, size))  # JPEG only: decode at a reduced scale, much faster
        return thumbnail_of(img, size)


def thumbnail_of(img: Image.Image, size: int) -> bytes:
    """The thumbnail of a decoded image we own: it is turned and shrunk in place, not copied."""
    ImageOps.exif_transpose(img, in_place=True)  # a no-op without an Orientation tag
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    mode = "RGBA" if has_alpha else "RGB"
    thumb = img if img.mode == mode else img.convert(mode)
    # reducing_gap=1.0: halve by a box average (Image.reduce) while the image is at least
    # twice the target, then BICUBIC the rest: for 1024 -> 384, 1024 -> 512 -> 384. Less
    # than half the CPU of one LANCZOS pass from 1024 (9.4 -> 4.0 ms, bench P6) and, at
    # thumbnail size, indistinguishable from it (PSNR 41-46 dB against it for a photo,
    # a drawing and a page of text). BICUBIC rather than LANCZOS for the last step (at
    # most 2:1): 3.9 -> 3.1 ms for 1024 -> 384, PSNR 41-51 dB against LANCZOS's result.
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=1.0)
    out = io.BytesIO()
    # method 2, not 4: a third of the encoding CPU (12 -> 4 ms for a 384 px thumbnail,
    # bench P6) for a file ~6 % larger; every image the worker stores pays it.
    thumb.save(out, format="WEBP", quality=80, method=2)
    return out.getvalue()


@contextmanager
def _opened(data: bytes, *, param: str | None) -> Iterator[Image.Image]:
    """Open `data` as PNG, JPEG or WebP with its pixel count already checked.

    Pillow's own decompression-bomb guard warns above Image.MAX_IMAGE_PIXELS and fails
    at twice that; both become our error here instead of a warning in the logs. The
    filter is set only inside this block (catch_warnings is process-wide, so threads can
    interleave; our own pixel check after opening does not depend on it, and the
    DARKROOM_MAX_IMAGE_PIXELS default is well below Pillow's limit).
    """
    if not data:
        raise InvalidRequest("image is empty", param=param, code="invalid_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as img:
                _check_pixels(*img.size, param=param)
                yield img
    except UnidentifiedImageError as exc:
        if data.startswith(_OWN_SIGNATURES) or data[8:12] == b"WEBP":
            raise _damaged(param) from exc
        raise InvalidRequest(
            f"image must be PNG, JPEG or WebP; got {_guess_kind(data)}",
            param=param,
            code="invalid_image_format",
        ) from exc
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        pillow_limit = Image.MAX_IMAGE_PIXELS or 0
        if isinstance(exc, Image.DecompressionBombError):
            pillow_limit *= 2
        raise InvalidRequest(
            f"image has more than {_megapixels(pillow_limit)} megapixels; "
            f"the limit is {_megapixels(settings.DARKROOM_MAX_IMAGE_PIXELS)} megapixels",
            param=param,
            code="image_too_many_pixels",
        ) from exc
    except InvalidRequest:
        raise
    except Exception as exc:
        # Pillow reports damage as whatever its parsers raise: OSError, SyntaxError,
        # ValueError, EOFError, struct.error, zlib.error...
        raise _damaged(param) from exc


def _damaged(param: str | None) -> InvalidRequest:
    return InvalidRequest(
        "image is damaged or incomplete and cannot be decoded", param=param, code="invalid_image"
    )


def _check_byte_size(size: int, *, param: str) -> None:
    limit = settings.DARKROOM_MAX_IMAGE_BYTES
    if size > limit:
        got, cap = _human_size(size), _human_size(limit)
        if got == cap:  # 20 MB and a few bytes: say exactly
            got, cap = f"{size} bytes", f"{limit} bytes"
        raise InvalidRequest(
            f"image is {got}; the limit is {cap}",
            param=param,
            code="image_too_large",
        )


def _check_pixels(width: int, height: int, *, param: str | None) -> None:
    limit = settings.DARKROOM_MAX_IMAGE_PIXELS
    if width * height > limit:
        raise InvalidRequest(
            f"image is {width}x{height} pixels; the limit is {_megapixels(limit)} megapixels",
            param=param,
            code="image_too_many_pixels",
        )


def _b64decode(text: str, *, param: str) -> bytes:
    # Clients wrap base64 at 76 columns or pretty-print it; some use the URL-safe
    # alphabet or drop the padding. None of that changes the bytes.
    compact = _WHITESPACE.sub("", text).translate(str.maketrans("-_", "+/"))
    if not compact:
        raise InvalidRequest("image data is empty", param=param, code="invalid_image")
    padded = compact + "=" * (-len(compact) % 4)
    # Refuse before decoding: the decoded size is known from the text's length.
    _check_byte_size(len(padded) * 3 // 4 - (len(padded) - len(padded.rstrip("="))), param=param)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(
            "image data is not valid base64", param=param, code="invalid_image"
        ) from exc


def _guess_kind(data: bytes) -> str:
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "AVIF"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return "HEIC"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "HTML"
    try:
        data[:1024].decode("utf-8")
    except UnicodeDecodeError:
        return "an unknown format"
    return "text"


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:g}"


def _human_size(size: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"
