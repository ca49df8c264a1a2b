"""Domain errors: every refusal a user can meet, with what the API envelope needs.

Interfaces (portal views, API views, commands) catch `DarkroomError` and render it;
the API turns it into `{"error": {"message", "type", "param", "code"}}` with `status`.
"""

from __future__ import annotations


class DarkroomError(Exception):
    status = 400
    type = "invalid_request_error"
    code: str | None = None
    # Whether a client may usefully send the same request again (x-should-retry).
    retryable = False

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def envelope(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(DarkroomError):
    """A parameter breaks the model's rules; `param` names it."""

    code = "invalid_value"


class ModelNotFound(DarkroomError):
    status = 404
    code = "model_not_found"


class QuotaExceeded(DarkroomError):
    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"

    def __init__(self, message: str, *, left: int, param: str | None = None):
        super().__init__(message, param=param)
        self.left = left


class KeyQuotaExceeded(DarkroomError):
    """The API key's own cap on images for this period is spent (its owner may have more)."""

    status = 429
    type = "insufficient_quota"
    code = "key_quota_exceeded"

    def __init__(self, message: str, *, left: int):
        super().__init__(message, param="n")
        self.left = left


class UpstreamFailed(DarkroomError):
    """The upstream refused or failed for good; the quota was released."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"


class StorageFull(DarkroomError):
    """The person's stored files would go over their storage cap; nothing was spent."""

    status = 403
    type = "insufficient_quota"
    code = "storage_full"

    def __init__(self, message: str, *, used: int, cap: int):
        super().__init__(message)
        self.used, self.cap = used, cap


class BudgetExhausted(DarkroomError):
    """A hard money budget (a group's or the instance's) is spent for this month."""

    status = 429
    type = "insufficient_quota"
    code = "budget_exhausted"


class ModerationBlocked(DarkroomError):
    """The content policy refused the prompt; nothing was spent, nothing sent upstream."""

    status = 400
    type = "invalid_request_error"
    code = "moderation_blocked"

    def __init__(self, message: str, *, policy: str):
        super().__init__(message, param="prompt")
        self.policy = policy
