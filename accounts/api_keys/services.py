"""API key writes: issue (the full key is returned once, never stored) and revoke."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from accounts.audit import audit_record
from accounts.models import ApiKey, User
from common.errors import InvalidRequest
from providers.catalog import get_catalog


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
    api_key_audit("key created", cast(ApiKey, row), user)
    return cast(ApiKey, row), key


def api_key_revoke(*, user: User, key_id: str) -> bool:
    """Revoke one of the user's keys; it fails from the next request on. False if not theirs."""
    key = ApiKey.objects.filter(pk=key_id, user=user, revoked=False).first()
    return key is not None and api_keys_revoke(keys=[key]) == 1


def api_keys_revoke(*, keys: Iterable[ApiKey]) -> int:
    """Revoke keys (the owner's page, staff in the admin, erasure); each one audited."""
    revoked = 0
    for key in keys:
        if ApiKey.objects.filter(pk=key.pk, revoked=False).update(revoked=True):
            revoked += 1
            api_key_audit("key revoked", key, key.user)
    return revoked


def api_key_audit(action: str, key: ApiKey, owner: User) -> None:
    audit_record(
        action=action,
        subject=f"{owner.get_username()}: {key.name} ({key.prefix}…)",
        target_type="api key",
        target_id=key.prefix,  # the library's pk is prefix + hash: too long, and secret-ish
        user=owner,
    )
