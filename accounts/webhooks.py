"""A person's webhook signing secret: one per person, derived from SECRET_KEY.

Shown on their API keys page; generations/api/webhooks.py signs every notice sent
to that person's receivers with it (Standard Webhooks, `whsec_` + base64).
Not to be confused with BFL's per-task callback secret (generations.callbacks.links).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings

from accounts.models import User


def webhook_signing_secret(user: User) -> str:
    raw = hmac.new(
        settings.SECRET_KEY.encode(), f"darkroom.webhook:{user.pk}".encode(), hashlib.sha256
    ).digest()
    return "whsec_" + base64.b64encode(raw).decode()
