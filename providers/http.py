"""All upstream HTTP goes through `send`: one name for tests to patch, one place
that turns transport failures into retryable `ProviderError`s."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from common.ops.upstream import observe_upstream

from .base import ProviderError

_local = threading.local()


def _client() -> httpx.Client:
    # One pooled client per thread: workers reuse connections to the same upstream.
    client = getattr(_local, "client", None)
    if client is None:
        client = httpx.Client(follow_redirects=False, headers={"User-Agent": "Darkroom/0.1"})
        _local.client = client
    return client


def send(method: str, url: str, *, timeout: float, **kwargs: Any) -> httpx.Response:
    started = time.perf_counter()
    outcome = "unreachable"
    try:
        response = _client().request(method, url, timeout=timeout, **kwargs)
        outcome = "ok" if response.is_success else f"http_{response.status_code // 100}xx"
        return response
    except httpx.TimeoutException as exc:
        outcome = "timeout"
        raise ProviderError(
            f"upstream did not answer within {timeout:g}s", code="upstream_timeout", retryable=True
        ) from exc
    except httpx.TransportError as exc:
        raise ProviderError(
            f"upstream unreachable: {exc.__class__.__name__}",
            code="upstream_unavailable",
            retryable=True,
        ) from exc
    finally:
        observe_upstream(outcome, time.perf_counter() - started)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or a retryable error for garbage (a proxy's HTML page...)."""
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(
            f"upstream sent a malformed reply (HTTP {response.status_code})",
            code="upstream_bad_response",
            retryable=True,
            status=response.status_code,
        ) from exc
