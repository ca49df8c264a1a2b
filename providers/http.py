"""All upstream HTTP goes through `send`: one name for tests to patch, one place
that turns transport failures into retryable `ProviderError`s."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import httpx

from common.net import tls_context
from common.ops.upstream import observe_upstream
from providers.base import ProviderError

_lock = threading.Lock()
_pool: tuple[int, httpx.Client] | None = None


def _client() -> httpx.Client:
    """One pooled client per process (httpx clients are thread-safe), not per thread: a
    client costs ~38 ms of CPU to build, and a worker may run hundreds of threads."""
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid():
            client = httpx.Client(
                follow_redirects=False,
                headers={"User-Agent": "Darkroom/0.1"},
                verify=tls_context(),
                # A synchronous call holds its connection for the whole call: no cap
                # below the worker's threads, or calls would queue for a connection.
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            )
            _pool = (os.getpid(), client)
        return _pool[1]


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
