"""Wire format name -> adapter class. Adding a format: one module + one row here."""

from __future__ import annotations

from common.ops import context
from providers.base import ChannelConfig, Provider
from providers.bfl import BFLProvider
from providers.chat import ChatProvider
from providers.dalle import DalleProvider
from providers.openai_edits import OpenAIEditsProvider
from providers.openai_images import OpenAIImagesProvider
from providers.replicate import ReplicateProvider

PROVIDERS: dict[str, type[Provider]] = {
    cls.format: cls
    for cls in (
        OpenAIImagesProvider,
        OpenAIEditsProvider,
        DalleProvider,
        ChatProvider,
        ReplicateProvider,
        BFLProvider,
    )
}


def is_supported(format_name: str) -> bool:
    return format_name in PROVIDERS


def provider_for(channel: ChannelConfig) -> Provider:
    # Logs and upstream metrics from here on name this channel.
    context.bind(channel=channel.name)
    return PROVIDERS[channel.format](channel)
