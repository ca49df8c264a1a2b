"""A failed job, told to the caller in the API's error vocabulary."""

from __future__ import annotations

from common.errors import DarkroomError, UpstreamFailed
from generations.models import Generation

from .errors import WaitTimedOut


class ContentRefused(DarkroomError):
    code = "moderation_blocked"


_TIMEOUTS = {"upstream_timeout", "timeout"}


def failure_error(generation: Generation) -> DarkroomError:
    """Its images were refunded; a retry would be a new job, so none is retryable here."""
    message = f"The job {generation.pk} failed: {generation.error_message or generation.error_code}"
    if generation.error_code == "moderation_blocked":
        return ContentRefused(message)
    if generation.error_code in _TIMEOUTS:
        return WaitTimedOut(message, code=generation.error_code)
    return UpstreamFailed(message, code=generation.error_code or None)
