"""API key writes: issue (the full key is returned once, never stored) and revoke."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from common.errors import InvalidRequest
from providers.catalog import get_catalog

from ..models import ApiKey, User


def api_key_issue(
    *,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    allowed_models: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """A new key for `user`: (row, full key). Show the key now; only its hash is kept."""
    name = name.strip() or "API key"
    if len(name) > 50:
        raise InvalidRequest("A key's name is at most 50 characters.", param="name")
    unknown = [m for m in allowed_models or [] if get_catalog().get(m) is None]
    if unknown:
        raise InvalidRequest(f"Unknown model: {', '.join(unknown)}.", param="allowed_models")
    row, key = ApiKey.objects.create_key(
        user=user,
        name=name,
        expiry_date=expires_at,
        allowed_models=list(allowed_models or []),
    )
    return cast(ApiKey, row), key


def api_keys_revoke(*, key_ids: list[str]) -> int:
    """Revoke any keys (the admin's bulk action); how many were still live."""
    return ApiKey.objects.filter(pk__in=key_ids, revoked=False).update(revoked=True)


def api_key_revoke(*, user: User, key_id: str) -> bool:
    """Revoke one of the user's keys; it fails from the next request on. False if not theirs."""
    return bool(ApiKey.objects.filter(pk=key_id, user=user, revoked=False).update(revoked=True))
