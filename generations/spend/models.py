"""Money budgets with their alerts, and the content policy with its refusals.

Imported by generations.models, so they belong to the generations app.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def _money(verbose_name: str | Any = "", **kwargs: Any) -> models.DecimalField[Any, Any]:
    return models.DecimalField(verbose_name, max_digits=14, decimal_places=6, **kwargs)


class Budget(models.Model):
    """A monthly money budget for one group, or (no group) for the whole instance.

    `spent` and `reserved` move only by conditional UPDATEs (generations.spend.budgets);
    a new month starts by one idempotent UPDATE that zeroes them for the old month.
    """

    group = models.OneToOneField(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="money_budget"
    )
    is_instance = models.BooleanField(_("whole instance"), default=False, editable=False)
    monthly = _money(_("monthly limit"))
    hard = models.BooleanField(
        _("hard"), default=False, help_text=_("Refuse new requests (429) once the budget is spent.")
    )
    alert_to = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        limit_choices_to={"is_staff": True},
        verbose_name=_("e-mail alerts to"),
    )
    spent = _money(_("spent this month"), default=0, editable=False)
    reserved = _money(_("reserved"), default=0, editable=False)
    period_start = models.DateField(_("month from"), null=True, editable=False)

    class Meta:
        verbose_name = _("money budget")
        verbose_name_plural = _("money budgets")
        constraints = [
            models.UniqueConstraint(
                fields=["is_instance"], condition=Q(is_instance=True), name="budget_one_instance"
            ),
            models.CheckConstraint(
                condition=Q(is_instance=True, group__isnull=True)
                | Q(is_instance=False, group__isnull=False),
                name="budget_group_or_instance",
            ),
        ]

    def __str__(self) -> str:
        return str(_("the instance")) if self.is_instance else str(self.group)


class BudgetAlert(models.Model):
    """One threshold a budget crossed in one month: the unique row makes it fire once."""

    budget = models.ForeignKey(
        Budget, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("money budget")
    )
    period_start = models.DateField(_("month from"))
    threshold = models.PositiveSmallIntegerField(_("threshold %"))
    spent = _money(_("spent"))
    limit = _money(_("limit"))
    currency = models.CharField(_("currency"), max_length=3)
    created_at = models.DateTimeField(_("when"), auto_now_add=True)
    mailed = models.BooleanField(_("e-mail sent"), default=False)
    webhook_status = models.CharField(_("webhook answer"), max_length=200, blank=True)
    webhook_delivered = models.BooleanField(_("webhook delivered"), default=False)
    tries = models.PositiveSmallIntegerField(_("tries"), default=0)
    # When the mail or the webhook (whichever is still owed) is tried next; None: all
    # sent, or given up (generations.spend.alerts).
    next_try_at = models.DateTimeField(_("next try"), null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("budget alert")
        verbose_name_plural = _("budget alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start", "threshold"], name="budget_alert_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.budget} {self.threshold} %"


class PolicyTerm(models.Model):
    """A blocked term or pattern, for the instance (no group) or one group's members."""

    class Kind(models.TextChoices):
        TERM = "term", _("Term")
        PATTERN = "pattern", _("Pattern (regular expression)")

    term = models.CharField(_("term"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.TERM)
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="policy_terms"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group__name", "term"]
        verbose_name = _("blocked term")
        verbose_name_plural = _("blocked terms")
        constraints = [
            models.UniqueConstraint(fields=["term", "group"], name="policy_term_unique"),
            models.UniqueConstraint(
                fields=["term"], condition=Q(group__isnull=True), name="policy_term_instance"
            ),
        ]

    def __str__(self) -> str:
        return self.term

    @property
    def policy(self) -> str:
        return f"group:{self.group.name}" if self.group_id and self.group else "instance"


class ModerationRefusal(models.Model):
    """A request the moderation gate refused: the staff review list (no prompt kept)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("account"),
    )
    username = models.CharField(_("person"), max_length=150)
    model = models.CharField(_("model"), max_length=200)
    policy = models.CharField(_("policy"), max_length=200)
    prompt_sha256 = models.CharField(_("prompt hash"), max_length=64)
    source = models.CharField(_("source"), max_length=10)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    reviewed = models.BooleanField(_("reviewed"), default=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("moderation refusal")
        verbose_name_plural = _("moderation refusals")

    def __str__(self) -> str:
        return f"{self.username} {self.policy}"
