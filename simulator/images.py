"""Fake "generated" images: real PNGs, cheap to draw, deterministic.

The same (prompt, seed, size, index) always gives the same bytes, so tests can
assert reproducibility; a different seed gives a visibly different picture. A
picture is a two-colour gradient, a few shapes and a caption, all derived from a
hash, then PNG-encoded at a low zlib level: a 1024x1024 image takes a few tens of
milliseconds, which matters when a test or a load run asks for hundreds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import random
import re
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps, PngImagePlugin

SEED_MAX = 9_999_999_999
# Reference images are decoded to be checked; refuse decompression bombs early.
MAX_REFERENCE_PIXELS = 40_000_000

# ~1 megapixel, both sides multiples of 32 (what diffusion models are trained on).
ASPECT_RATIO_SIZES: dict[str, tuple[int, int]] = {
    "21:9": (1568, 672),
    "16:9": (1344, 768),
    "4:3": (1152, 864),
    "3:2": (1248, 832),
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:4": (864, 1152),
    "9:16": (768, 1344),
    "9:21": (672, 1568),
}

_DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.*)$", re.IGNORECASE | re.DOTALL)


class BadImage(ValueError):
    """A reference image that is not a decodable image."""


@dataclass(frozen=True)
class DecodedImage:
    mime: str
    data: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def open(self) -> Image.Image:
        return Image.open(io.BytesIO(self.data))


def random_seed() -> int:
    return random.randint(0, SEED_MAX)


def fit_megapixel(width: int, height: int, *, step: int = 32) -> tuple[int, int]:
    """Keep the aspect ratio, scale to about 1 megapixel, snap to `step`.

    Edit models answer at roughly their input's shape, not at a fixed size.
    """
    scale = math.sqrt(1024 * 1024 / max(1, width * height))
    return (
        max(step, round(width * scale / step) * step),
        max(step, round(height * scale / step) * step),
    )


def decode_data_url(value: str) -> DecodedImage:
    """`data:image/<fmt>;base64,<data>` -> checked image, or `BadImage`."""
    match = _DATA_URL.match(value)
    if not match:
        raise BadImage("not a data:image/<format>;base64,<data> URL")
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadImage("the base64 data does not decode") from exc
    return decode_bytes(data, mime=match.group(1).lower())


def decode_bytes(data: bytes, *, mime: str = "") -> DecodedImage:
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > MAX_REFERENCE_PIXELS:
                raise BadImage(f"the image is too large ({width}x{height})")
            img.verify()
            fmt = (img.format or "").lower()
    except BadImage:
        raise
    except Exception as exc:  # Pillow raises many kinds for corrupt data
        raise BadImage("the data is not a readable image") from exc
    return DecodedImage(mime=mime or f"image/{fmt}", data=data, width=width, height=height)


def render_png(
    *,
    prompt: str,
    seed: int,
    width: int,
    height: int,
    index: int = 0,
    reference: DecodedImage | None = None,
    caption: str = "",
) -> bytes:
    """A deterministic PNG of exactly `width` x `height` pixels."""
    key = f"{prompt}\x00{seed}\x00{width}x{height}\x00{index}".encode()
    rng = random.Random(hashlib.sha256(key).digest())
    img = _gradient(rng, width, height)
    if reference is not None:
        img = _blend_reference(img, reference)
    _shapes(ImageDraw.Draw(img), rng, width, height)
    _caption(img, caption or prompt, seed, index)
    info = PngImagePlugin.PngInfo()
    info.add_text("sim-seed", str(seed))
    info.add_text("sim-index", str(index))
    info.add_itxt("sim-prompt", prompt[:500])
    buf = io.BytesIO()
    # Level 1: several times faster than the default and still small for flat art.
    img.save(buf, "PNG", compress_level=1, pnginfo=info)
    return buf.getvalue()


def _color(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _gradient(rng: random.Random, width: int, height: int) -> Image.Image:
    ramp = Image.linear_gradient("L")
    ramp = ramp.transpose(rng.choice(list(Image.Transpose)[:4]))
    ramp = ramp.resize((width, height), Image.Resampling.BILINEAR)
    return ImageOps.colorize(ramp, _color(rng), _color(rng))


def _blend_reference(img: Image.Image, reference: DecodedImage) -> Image.Image:
    # An "edit" should visibly come from its input: show the reference through.
    try:
        with reference.open() as ref:
            ref_rgb = ref.convert("RGB").resize(img.size, Image.Resampling.BILINEAR)
    except Exception:
        return img
    return Image.blend(img, ref_rgb, 0.6)


def _shapes(draw: ImageDraw.ImageDraw, rng: random.Random, width: int, height: int) -> None:
    for _ in range(rng.randint(3, 6)):
        x0, x1 = sorted(rng.randrange(width) for _ in range(2))
        y0, y1 = sorted(rng.randrange(height) for _ in range(2))
        box = (x0, y0, max(x1, x0 + 8), max(y1, y0 + 8))
        if rng.random() < 0.5:
            draw.ellipse(box, fill=_color(rng))
        else:
            draw.rectangle(box, fill=_color(rng), outline=_color(rng), width=3)


def _caption(img: Image.Image, text: str, seed: int, index: int) -> None:
    size = max(10, img.height // 28)
    font = ImageFont.load_default(size=size)
    # The built-in font has no CJK glyphs; keep the caption to what it can draw.
    line = text.encode("ascii", "replace").decode()[:60]
    draw = ImageDraw.Draw(img)
    draw.text(
        (size, size), line, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0)
    )
    draw.text(
        (size, size * 2 + 4),
        f"seed {seed} #{index}",
        fill=(255, 255, 255),
        font=font,
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )
