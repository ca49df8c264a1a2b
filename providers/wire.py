"""Pieces every wire format shares: ratio sizes, bearer headers, error mapping.

Parsing a size and its nearest aspect ratio are common.sizes (the API uses them too).

Kept apart from the adapters so each adapter module reads as its translation
table plus its protocol, nothing else.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from providers.base import ChannelConfig, InputImage, ProviderError
from providers.http import retry_after

# Flux's aspect ratios (common.sizes.ASPECT_RATIOS), each with its ~1 megapixel size
# in multiples of 32 (what the upstreams render for a ratio).
RATIO_SIZES: dict[str, tuple[int, int]] = {
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
MODERATION_CODES = {"content_policy_violation", "moderation_blocked", "content_filter", "sensitive"}
MODERATION_WORDS = ("nsfw", "moderat", "safety", "sensitive", "content policy", "flagged")


def bearer(channel: ChannelConfig) -> dict[str, str]:
    return {"Authorization": f"Bearer {channel.api_key}"}


def snap32(value: float, lo: int, hi: int) -> int:
    return int(max(lo, min(hi, round(value / 32) * 32)))


def size_in_32s(width: int, height: int, lo: int = 256, hi: int = 1440) -> tuple[int, int]:
    """Width/height as multiples of 32 within lo..hi, the aspect ratio kept as well as it can."""
    scale = min(1.0, hi / max(width, height))
    return snap32(width * scale, lo, hi), snap32(height * scale, lo, hi)


def ratio_size(ratio: str) -> str:
    width, height = RATIO_SIZES[ratio]
    return f"{width}x{height}"


def bare_base64(image: InputImage) -> str:
    return base64.b64encode(image.data).decode()


def is_moderation(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in MODERATION_WORDS)


def error_from_response(response: httpx.Response, *, what: str = "the request") -> ProviderError:
    """Map an upstream HTTP error (OpenAI, Replicate or FastAPI-style body) to our words."""
    status = response.status_code
    upstream_code, message = envelope(response)
    detail = f" ({message})" if message else ""
    if upstream_code in MODERATION_CODES:
        return ProviderError(
            f"the upstream safety system refused {what}{detail}",
            code="moderation_blocked",
            retryable=False,
            status=status,
        )
    if status == 429:
        return ProviderError(
            f"upstream is rate limiting{detail}",
            code="upstream_rate_limited",
            retryable=True,
            status=status,
            retry_after=retry_after(response),
        )
    if status in (408, 409) or status >= 500:
        return ProviderError(
            f"upstream failed with HTTP {status}{detail}",
            code="upstream_unavailable",
            retryable=True,
            status=status,
            retry_after=retry_after(response),
        )
    if status in (401, 403):
        return ProviderError(
            f"upstream refused the channel's key (HTTP {status}){detail}",
            code="upstream_auth_failed",
            retryable=False,
            status=status,
        )
    if status == 404:
        return ProviderError(
            f"upstream does not know {what}{detail}",
            code="upstream_not_found",
            retryable=False,
            status=status,
        )
    return ProviderError(
        f"upstream rejected {what} (HTTP {status}){detail}",
        code="invalid_request",
        retryable=False,
        status=status,
    )


def envelope(response: httpx.Response) -> tuple[str, str]:
    """(code, message) from `{"error": {...}}`, `{"error": "..."}` or `{"detail": ...}`."""
    try:
        body: Any = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")[:300]
    if error:
        return "", str(error)[:300]
    detail = body.get("detail")
    if isinstance(detail, list):  # FastAPI validation errors (BFL)
        detail = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg', '')}"
            for d in detail
            if isinstance(d, dict)
        )
    return "", str(detail or body.get("title") or "")[:300]


def decode_b64_image(value: str) -> bytes:
    """An upstream's base64 image (bare or a data: URL), or a retryable bad-response error."""
    from common.errors import InvalidRequest
    from common.images import decode_base64_image

    try:
        return decode_base64_image(value, param="b64_json")
    except InvalidRequest as exc:
        raise ProviderError(
            f"upstream sent undecodable image data: {exc.message}",
            code="upstream_bad_response",
            retryable=True,
        ) from exc
