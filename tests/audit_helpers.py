"""Audit-log reads for tests."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import AuditEntry


def quota_audit() -> QuerySet[AuditEntry]:
    """The quota entries only (signing in as a test's admin writes entries too)."""
    return AuditEntry.objects.filter(target_type="quota")
