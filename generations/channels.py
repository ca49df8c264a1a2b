"""Which upstream channels may serve a generation, in the order to try them."""

from __future__ import annotations

from providers import channels
from providers.base import ChannelConfig, ProviderError

from .models import Generation


def channels_for_generation(
    generation: Generation, *, only: str | None = None
) -> list[ChannelConfig]:
    return channels.channels_for(generation.model, only=only)


def channel_by_name(generation: Generation, name: str) -> ChannelConfig:
    """The channel that accepted an in-flight job, even if switched off since."""
    channel = channels.channel_named(generation.model, name)
    if channel is None:
        raise ProviderError(
            f"channel {name!r} no longer serves {generation.model}",
            code="no_channel",
            retryable=False,
        )
    return channel
