"""Celery tasks for accounts: thin interfaces over accounts.services."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task
def reset_quota_periods() -> int:
    """Run by beat every few minutes; idempotent, so an extra or doubled run is harmless."""
    return services.quota_reset_periods()
