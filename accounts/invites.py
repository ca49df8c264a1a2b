"""Invite links for DARKROOM_SIGNUP = "invite": a signed, expiring token naming one e-mail.

Stateless on purpose (no table): the signature proves staff made it, the
timestamp bounds its life, and an address that already has an account can't
sign up again, so a used link is spent.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

_SALT = "darkroom.accounts.invite"


def invite_token(email: str) -> str:
    return signing.TimestampSigner(salt=_SALT).sign(email.strip().lower())


def invite_email(token: str) -> str | None:
    """The e-mail an invite names, or None if the token is forged or expired."""
    try:
        return signing.TimestampSigner(salt=_SALT).unsign(
            token, max_age=settings.DARKROOM_INVITE_MAX_AGE
        )
    except signing.BadSignature:
        return None
