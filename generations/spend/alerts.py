"""Budget alerts: an e-mail to the staff who asked for them, a signed webhook to
DARKROOM_ALERT_WEBHOOK_URL, and (from the BudgetAlert rows) a banner in the admin.

Sent right after the commit of the request that crossed the line (the row is the
once-per-month guard); a failure is logged and kept on the row, never raised into the
job that crossed it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.utils.translation import gettext as _

from generations.spend.models import BudgetAlert

log = logging.getLogger(__name__)


def alert_signing_secret() -> str:
    """DARKROOM_ALERT_WEBHOOK_SECRET, else one derived from SECRET_KEY (`whsec_` + base64)."""
    if settings.DARKROOM_ALERT_WEBHOOK_SECRET:
        return str(settings.DARKROOM_ALERT_WEBHOOK_SECRET)
    raw = hmac.new(settings.SECRET_KEY.encode(), b"darkroom.budget-alerts", hashlib.sha256)
    return "whsec_" + base64.b64encode(raw.digest()).decode()


def alert_payload(alert: BudgetAlert) -> dict[str, Any]:
    budget = alert.budget
    return {
        "object": "event",
        "type": "budget.threshold_crossed",
        "created_at": int(alert.created_at.timestamp()),
        "data": {
            "budget": "instance" if budget.is_instance else "group",
            "group": budget.group.name if budget.group else None,
            "threshold": alert.threshold,
            "spent": str(alert.spent),
            "limit": str(alert.limit),
            "currency": alert.currency,
            "period_start": alert.period_start.isoformat(),
        },
    }


def send_alert(*, alert_id: int) -> None:
    alert = BudgetAlert.objects.select_related("budget__group").get(pk=alert_id)
    mailed = _mail(alert)
    status = _post(alert) if settings.DARKROOM_ALERT_WEBHOOK_URL else ""
    BudgetAlert.objects.filter(pk=alert.pk).update(mailed=mailed, webhook_status=status[:200])


def _mail(alert: BudgetAlert) -> bool:
    recipients = [u.email for u in alert.budget.alert_to.all() if u.email]
    if not recipients:
        return False
    subject = _("Darkroom budget: %(budget)s at %(threshold)s %%") % {
        "budget": alert.budget,
        "threshold": alert.threshold,
    }
    body = _("Spent %(spent)s of %(limit)s %(currency)s this month.") % {
        "spent": alert.spent,
        "limit": alert.limit,
        "currency": alert.currency,
    }
    try:
        send_mail(subject, body, None, recipients)
    except Exception:  # an alert must never fail the job that crossed the line
        log.exception("budget alert %s: mail not sent", alert.pk)
        return False
    return True


def _post(alert: BudgetAlert) -> str:
    """The same signing scheme as job webhooks (Standard Webhooks)."""
    from generations.api.webhooks import signed_headers

    body = json.dumps(alert_payload(alert), separators=(",", ":"))
    headers = signed_headers(
        alert_signing_secret(), body, msg_id=f"msg_budget_{alert.pk}", timestamp=int(time.time())
    )
    try:
        # The operator's own address (not a user's): no SSRF guard, a short timeout.
        response = httpx.post(
            settings.DARKROOM_ALERT_WEBHOOK_URL, content=body, headers=headers, timeout=10
        )
    except httpx.HTTPError as exc:
        log.warning("budget alert %s: webhook failed: %r", alert.pk, exc)
        return f"error: {exc.__class__.__name__}"
    return f"HTTP {response.status_code}"
