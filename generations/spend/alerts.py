"""Budget alerts: an e-mail to the staff who asked for them, a signed webhook to
DARKROOM_ALERT_WEBHOOK_URL, and (from the BudgetAlert rows) a banner in the admin.

Sent right after the commit of the request that crossed the line (the row is the
once-per-month guard); a failure is logged and kept on the row, never raised into the
job that crossed it, and tried again with backoff (`alerts_retry`, a beat task) until
it is sent or ALERT_GIVE_UP has passed. The row records what went: a mail that went
is not sent again when only the webhook failed, nor the other way round. One sender
at a time: a send claims the row (its `next_try_at`) by a conditional UPDATE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from generations.spend.models import BudgetAlert

log = logging.getLogger(__name__)

# Waits between tries of an alert not (fully) sent; the last repeats.
ALERT_BACKOFF = (60, 120, 300, 900, 1800, 3600)
# An alert not sent this long after its threshold was crossed is given up (logged).
ALERT_GIVE_UP = timedelta(days=7)
# How long a send holds its claim on the row: past the webhook's timeout and the mail's.
CLAIM = timedelta(minutes=2)
WEBHOOK_TIMEOUT = 10.0


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


def send_alert(*, alert_id: int, now: datetime | None = None) -> bool:
    """Send what the alert still owes (mail, webhook) if it is due; True if it is all sent.

    What fails is tried again later (`next_try_at`, with backoff): never raised.
    """
    now = now or timezone.now()
    claimed = BudgetAlert.objects.filter(pk=alert_id, next_try_at__lte=now).update(
        next_try_at=now + CLAIM
    )
    if not claimed:  # sent, given up, not due yet, or another sender has it
        return False
    alert = BudgetAlert.objects.select_related("budget__group").get(pk=alert_id)
    mailed = alert.mailed or _mail(alert)
    webhook_url = settings.DARKROOM_ALERT_WEBHOOK_URL
    status, delivered = alert.webhook_status, alert.webhook_delivered
    if webhook_url and not delivered:
        status = _post(alert)
        delivered = status.startswith("HTTP 2")
    done = (mailed or not _recipients(alert)) and (delivered or not webhook_url)
    tries = alert.tries + 1
    wait = ALERT_BACKOFF[min(tries, len(ALERT_BACKOFF)) - 1]
    next_try: datetime | None = None if done else now + timedelta(seconds=wait)
    if next_try is not None and next_try - alert.created_at > ALERT_GIVE_UP:
        log.error("budget alert %s: given up after %s tries (%s)", alert.pk, tries, status)
        next_try = None
    BudgetAlert.objects.filter(pk=alert.pk).update(
        mailed=mailed,
        webhook_status=status[:200],
        webhook_delivered=delivered,
        tries=tries,
        next_try_at=next_try,
    )
    return done


def alerts_retry(*, now: datetime | None = None) -> int:
    """Beat: send again the alerts whose mail or webhook failed, once due; how many went."""
    now = now or timezone.now()
    due = BudgetAlert.objects.filter(next_try_at__lte=now).order_by("next_try_at")
    return sum(send_alert(alert_id=pk, now=now) for pk in list(due.values_list("pk", flat=True)))


def _recipients(alert: BudgetAlert) -> list[str]:
    return [u.email for u in alert.budget.alert_to.all() if u.email]


def _mail(alert: BudgetAlert) -> bool:
    recipients = _recipients(alert)
    if not recipients:
        return False
    # In the instance's language: the mail goes to every staff member who asked for
    # alerts, not in whatever language the request that crossed the line was served in.
    with translation.override(settings.LANGUAGE_CODE):
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
        log.exception("budget alert %s: mail not sent; tried again later", alert.pk)
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
            settings.DARKROOM_ALERT_WEBHOOK_URL,
            content=body,
            headers=headers,
            timeout=WEBHOOK_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        log.warning("budget alert %s: webhook failed: %r; tried again later", alert.pk, exc)
        return f"error: {exc.__class__.__name__}"
    if not response.is_success:
        log.warning(
            "budget alert %s: webhook answered %s; tried again later",
            alert.pk,
            response.status_code,
        )
    return f"HTTP {response.status_code}"
