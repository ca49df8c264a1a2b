"""Resolve a model's catalog channels into concrete endpoints (URL, key, hosts).

`DARKROOM_SIMULATOR_URL`, when set, points every channel at the simulator.
Otherwise each channel reads its base URL and key from the environment
variables the catalog names, falling back to the documented base URL.
"""

from __future__ import annotations

import os
import random
from urllib.parse import urlsplit

from django.conf import settings

from .base import Channel
from .catalog import ChannelSpec, ModelSpec
from .registry import is_supported


def resolve(spec: ChannelSpec) -> Channel:
    if settings.DARKROOM_SIMULATOR_URL:
        base_url = settings.DARKROOM_SIMULATOR_URL.rstrip("/")
        api_key = settings.DARKROOM_SIMULATOR_KEY
    else:
        base_url = os.environ.get(spec.base_url_env, spec.base_url).rstrip("/")
        api_key = os.environ.get(spec.key_env, "")
    host = (urlsplit(base_url).hostname or "").lower()
    extra_hosts = {h.lower() for h in spec.options.get("result_hosts", [])}
    return Channel(
        name=spec.name,
        format=spec.format,
        base_url=base_url,
        api_key=api_key,
        upstream_model=spec.upstream_model,
        result_hosts=frozenset({host} | extra_hosts),
        options=dict(spec.options),
        timeout=settings.DARKROOM_UPSTREAM_TIMEOUT,
    )


def channels_for(model: ModelSpec, *, only: str | None = None) -> list[Channel]:
    """Usable channels in the order to try: highest priority first, weighted among equals."""
    specs = [
        c for c in model.channels if is_supported(c.format) and (only is None or c.name == only)
    ]
    ordered = sorted(
        specs, key=lambda c: (-c.priority, -(random.random() ** (1 / max(c.weight, 1))))
    )
    return [resolve(c) for c in ordered]
