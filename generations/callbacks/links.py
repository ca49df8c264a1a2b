"""The callback a job's upstream task carries: our route for it and its secret."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.urls import reverse

from providers.base import Callback


def callback_secret(generation_id: str) -> str:
    """The per-task secret BFL sends back to our callback (its field `webhook_secret`)."""
    key = f"darkroom-bfl-webhook:{settings.SECRET_KEY}".encode()
    return hmac.new(key, generation_id.encode(), hashlib.sha256).hexdigest()


def bfl_callback(generation_id: Any) -> Callback | None:
    """Where BFL may tell us the job's task is done; None without a public address."""
    base = settings.DARKROOM_PUBLIC_URL
    if not base:
        return None
    path = reverse("providers:bfl-webhook", args=[generation_id])
    return Callback(url=base.rstrip("/") + path, secret=callback_secret(str(generation_id)))
