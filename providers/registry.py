"""Wire format name -> adapter class. Adding a format: one module + one row here."""

from __future__ import annotations

from .base import Channel, Provider
from .openai_images import OpenAIImagesProvider

PROVIDERS: dict[str, type[Provider]] = {
    OpenAIImagesProvider.format: OpenAIImagesProvider,
}


def is_supported(format_name: str) -> bool:
    return format_name in PROVIDERS


def provider_for(channel: Channel) -> Provider:
    return PROVIDERS[channel.format](channel)
