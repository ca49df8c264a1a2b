"""Which Redis carries the wake-ups ("job finished", "a person's jobs changed").

Both the API's waits and the portal's live streams subscribe to the broker's Redis; on the
embedded default (kombu's filesystem broker) there is none, and each falls back to re-reading
the rows on a timer.
"""

from __future__ import annotations

from django.conf import settings


def redis_url() -> str | None:
    url = str(settings.CELERY_BROKER_URL)
    return url if url.startswith(("redis://", "rediss://")) else None
