"""Rotating SECRET_KEY and the field encryption key without losing stored channel keys."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from providers.models import Channel

pytestmark = pytest.mark.django_db


def _raw_token(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM providers_channel WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def channel(settings: Any) -> Channel:
    settings.DARKROOM_FIELD_ENCRYPTION_KEY = ""  # stored under the SECRET_KEY-derived key
    channel = Channel.objects.order_by("pk")[0]
    channel.api_key = "sk-upstream-123"
    channel.save()
    return channel


def test_an_explicit_key_then_rotation_moves_keys_off_secret_key(
    channel: Channel, settings: Any
) -> None:
    new = Fernet.generate_key().decode()
    settings.DARKROOM_FIELD_ENCRYPTION_KEY = new
    assert Channel.objects.get(pk=channel.pk).api_key == "sk-upstream-123"
    call_command("rotate_channel_keys")
    assert Fernet(new).decrypt(_raw_token(channel.pk).encode()) == b"sk-upstream-123"
    settings.SECRET_KEY = "an-entirely-new-secret-key-" + "x" * 30
    assert Channel.objects.get(pk=channel.pk).api_key == "sk-upstream-123"


def test_a_rotated_secret_key_in_the_fallbacks_still_decrypts(
    channel: Channel, settings: Any
) -> None:
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the-next-secret-key-" + "y" * 40
    assert Channel.objects.get(pk=channel.pk).api_key == "sk-upstream-123"


def test_rotation_refuses_a_token_no_key_opens(channel: Channel, settings: Any) -> None:
    settings.SECRET_KEY = "unrelated-" + "z" * 50
    settings.DARKROOM_FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    before = _raw_token(channel.pk)
    with pytest.raises(Exception, match="nothing was changed"):
        call_command("rotate_channel_keys")
    assert _raw_token(channel.pk) == before
