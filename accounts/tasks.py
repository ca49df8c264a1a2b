"""Celery tasks for accounts: thin interfaces over accounts.quota.changes."""

from __future__ import annotations

from celery import shared_task

from accounts.quota import changes as quota_changes


@shared_task
def reset_quota_periods() -> int:
    """Run by beat every few minutes; idempotent, so an extra or doubled run is harmless."""
    return quota_changes.quota_reset_periods()
