"""A failed job, told to the caller in the API's error vocabulary."""

from __future__ import annotations

import math

from common.errors import DarkroomError, UpstreamFailed
from generations.api.errors import WaitTimedOut
from generations.models import Generation


class UpstreamRateLimited(DarkroomError):
    """Every channel was rate limiting: nothing was made and the images were refunded,
    so the same call after Retry-After is a fresh, fairly charged try."""

    status = 429
    type = "requests"
    code = "upstream_rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ContentRefused(DarkroomError):
    code = "moderation_blocked"


_TIMEOUTS = {"upstream_timeout", "timeout"}
DEFAULT_RETRY_AFTER = 5


def failure_error(generation: Generation) -> DarkroomError:
    """Its images were refunded; a retry would be a new job, so only "slow down" is
    retryable here."""
    message = f"The job {generation.pk} failed: {generation.error_message or generation.error_code}"
    if generation.error_code == "upstream_rate_limited":
        return UpstreamRateLimited(message, retry_after=_retry_after(generation))
    if generation.error_code == "moderation_blocked":
        return ContentRefused(message)
    if generation.error_code in _TIMEOUTS:
        return WaitTimedOut(message, code=generation.error_code)
    return UpstreamFailed(message, code=generation.error_code or None)


def _retry_after(generation: Generation) -> int:
    """The longest Retry-After the upstreams asked for in the job's attempts (default 5 s)."""
    top = max((float(a.get("retry_after") or 0) for a in generation.attempts or []), default=0.0)
    return max(1, math.ceil(top)) if top else DEFAULT_RETRY_AFTER
