"""A person's API keys for /v1: issue and revoke (services), the portal page (views,
forms, urls). The admin for everyone's keys is accounts/admin/api_keys.py."""

from accounts.api_keys.services import api_key_issue, api_key_revoke

__all__ = ["api_key_issue", "api_key_revoke"]
