"""Bearer API keys: who is calling, and whether their key still works.

Hashing and lookup are djangorestframework-api-key's; this adds what Darkroom
asks of a key on every request: not revoked, not expired, owner still active.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from django.http import HttpRequest
from django.utils import timezone

from accounts.models import ApiKey
from generations.api.errors import AuthenticationFailed
from generations.sync import run_sync

# Writing last_used_at on every call would turn each request into a write.
_TOUCH_EVERY = timedelta(minutes=1)


def bearer_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
    return token.strip()


def key_for(raw: str) -> ApiKey:
    try:
        key = cast(ApiKey, ApiKey.objects.get_from_key(raw))
    except ApiKey.DoesNotExist:
        raise AuthenticationFailed("Incorrect API key provided.") from None
    if key.has_expired:
        raise AuthenticationFailed(f"The API key {key.prefix}... has expired.")
    if not key.user.is_active:
        raise AuthenticationFailed("The account this API key belongs to is deactivated.")
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


async def authenticate(request: HttpRequest) -> ApiKey:
    return await run_sync(key_for, bearer_token(request))
