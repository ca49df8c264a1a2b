"""Field checks shared by the reseller's and BFL's simulated formats.

Each upstream words its refusals its own way; these raise `Invalid(field, message)`
and the format renders it in its envelope (Replicate's 422 `detail`, FastAPI's
`loc`/`msg` list for BFL, OpenAI's `error` object for the reseller).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from simulator import images


class Invalid(Exception):
    def __init__(self, field: str, message: str, code: str = "invalid_parameter") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code


def integer(body: dict[str, Any], key: str, lo: int, hi: int) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise Invalid(key, f"must be an integer between {lo} and {hi}")


def number(body: dict[str, Any], key: str, lo: float, hi: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise Invalid(key, f"must be a number between {lo:g} and {hi:g}")


def boolean(body: dict[str, Any], key: str) -> None:
    if key in body and not isinstance(body[key], bool):
        raise Invalid(key, "must be true or false")


def choice(body: dict[str, Any], key: str, choices: tuple[str, ...] | frozenset[str]) -> None:
    if key in body and body[key] not in choices:
        raise Invalid(key, f"must be one of {', '.join(sorted(choices))}")


def text(body: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(
            key,
            "is required" if required else "must be a string",
            "missing_required_parameter" if required else "invalid_parameter",
        )
    return value


def image(value: Any, key: str, *, bare_base64: bool = False) -> images.DecodedImage | str:
    """A reference: a data URL (decoded and checked), an http(s) URL (kept, never
    fetched: the simulator has no network) or, where the upstream takes it, bare base64."""
    if not isinstance(value, str) or not value:
        raise Invalid(key, "must be an image URL or data URL")
    if value.startswith(("http://", "https://")):
        return value
    try:
        if value.startswith("data:"):
            return images.decode_data_url(value)
        if bare_base64:
            return images.decode_bytes(base64.b64decode(value, validate=True))
    except (images.BadImage, binascii.Error, ValueError) as exc:
        raise Invalid(key, f"is not a readable image ({exc})", "invalid_image") from exc
    raise Invalid(key, "must be an image URL or a data:image/...;base64 URL")


def summary(ref: images.DecodedImage | str) -> dict[str, Any]:
    if isinstance(ref, str):
        return {"kind": "url", "url": ref}
    return {
        "kind": "image",
        "mime": ref.mime,
        "bytes": len(ref.data),
        "width": ref.width,
        "height": ref.height,
        "sha256": ref.sha256,
    }


def seed(body: dict[str, Any]) -> int:
    value = body.get("seed")
    return images.random_seed() if value is None or value == -1 else int(value)
