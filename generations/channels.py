"""Which upstream channels may serve a generation, in the order to try them."""

from __future__ import annotations

from providers import channels
from providers.base import Channel, ProviderError
from providers.catalog import get_catalog

from .models import Generation


def channels_for_generation(generation: Generation, *, only: str | None = None) -> list[Channel]:
    spec = get_catalog().get(generation.model)
    if spec is None:
        return []
    return channels.channels_for(spec, only=only)


def channel_by_name(generation: Generation, name: str) -> Channel:
    for channel in channels_for_generation(generation, only=name):
        return channel
    raise ProviderError(
        f"channel {name!r} no longer serves {generation.model}",
        code="no_channel",
        retryable=False,
    )
