"""Channel keys encrypted at rest with Fernet (the `cryptography` package).

Fernet is authenticated encryption (AES-CBC + HMAC-SHA256) from a well-kept
library; the Django field wrappers around it are unmaintained forks, and the
part we need is a dozen lines. Keys: `DARKROOM_FIELD_ENCRYPTION_KEY` (one or more
comma-separated Fernet keys; the first encrypts, all decrypt, so keys can be
rotated), else one derived from SECRET_KEY with HKDF. Set the former in
production: with the derived key, changing SECRET_KEY makes stored channel keys
unreadable (they must then be entered again).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

log = logging.getLogger(__name__)


def _fernet() -> MultiFernet:
    """The first key encrypts; every key decrypts. Keys derived from SECRET_KEY and its
    fallbacks stay last, decrypt-only, so setting an explicit key (or rotating SECRET_KEY
    with SECRET_KEY_FALLBACKS) never strands what was stored under the old one."""
    configured = [k.strip() for k in settings.DARKROOM_FIELD_ENCRYPTION_KEY.split(",") if k.strip()]
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    derived = [_derived(secret) for secret in secrets]
    return MultiFernet([*(Fernet(k) for k in configured), *derived])


def _derived(secret: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"darkroom channel api keys"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def rotate(token: str) -> str:
    """The token re-encrypted under the current first key (MultiFernet.rotate)."""
    return _fernet().rotate(token.encode()).decode() if token else ""


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        # Wrong key (SECRET_KEY or DARKROOM_FIELD_ENCRYPTION_KEY changed): treat as
        # unset so the admin shows it must be entered again, rather than crash.
        log.warning("a stored channel key cannot be decrypted with the configured keys")
        return ""


class EncryptedTextField(models.TextField):
    """A TextField stored as a Fernet token; Python code sees the plain text."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:  # noqa: ARG002
        return decrypt(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if isinstance(value, str) else value
