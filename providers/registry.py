"""Wire format name -> adapter class. Adding a format: one module + one row here."""

from __future__ import annotations

from .base import ChannelConfig, Provider
from .bfl import BFLProvider
from .chat import ChatProvider
from .dalle import DalleProvider
from .openai_edits import OpenAIEditsProvider
from .openai_images import OpenAIImagesProvider
from .replicate import ReplicateProvider

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
    return PROVIDERS[channel.format](channel)
