from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager

from accounts.audit_labels import action_label


class User(AbstractUser):
    """Custom from the first migration, so fields can be added without pain."""


class Quota(models.Model):
    """A person's images for one model: limit, images used, images held by running jobs.

    `limit` None means "inherit" (the catalog's free quota). Change `used` and
    `reserved` only through accounts.quota, with single conditional UPDATEs (or a
    locked row for an audited edit).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="quotas",
        verbose_name=_("person"),
    )
    model = models.CharField(_("model"), max_length=200)
    limit = models.PositiveIntegerField(_("limit"), null=True, blank=True)
    # Person-level unlimited wins over every limit (their own, their groups', the catalog's).
    unlimited = models.BooleanField(_("unlimited"), default=False)
    used = models.PositiveIntegerField(_("used"), default=0)
    reserved = models.PositiveIntegerField(_("reserved"), default=0)
    # `used` counts images since this moment. The periodic reset sets it to the start of
    # the period it reset for and resets only rows older than the current period start,
    # so a second run (or two at once) changes nothing.
    used_since = models.DateTimeField(_("counting since"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "model"], name="quota_unique_user_model"),
        ]
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")

    def __str__(self) -> str:
        return f"{self.user} / {self.model}"


class Period(models.TextChoices):
    """How often `used` goes back to 0. NEVER is the default: a one-off free quota."""

    NEVER = "never", _("No reset")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class ModelQuotaPolicy(models.Model):
    """Per-model settings the catalog file doesn't hold: the reset period."""

    model = models.CharField(_("model"), max_length=200, unique=True)
    period = models.CharField(
        _("period"), max_length=10, choices=Period.choices, default=Period.NEVER
    )

    class Meta:
        verbose_name = _("model quota policy")
        verbose_name_plural = _("model quota policies")

    def __str__(self) -> str:
        return f"{self.model}: {self.get_period_display()}"


class GroupQuota(models.Model):
    """A group's layer for one model, between the catalog's free quota and the person's own.

    `limit` None means inherit (the catalog); `period` "" means inherit (the model's).
    """

    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, related_name="quotas", verbose_name=_("group")
    )
    model = models.CharField(_("model"), max_length=200)
    limit = models.PositiveIntegerField(_("limit"), null=True, blank=True)
    unlimited = models.BooleanField(_("unlimited"), default=False)
    period = models.CharField(_("period"), max_length=10, choices=Period.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["group", "model"], name="groupquota_unique_group_model"
            ),
        ]
        verbose_name = _("group quota")
        verbose_name_plural = _("group quotas")

    def __str__(self) -> str:
        return f"{self.group} / {self.model}"


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: object) -> int:
        raise TypeError("The audit log is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("The audit log is append-only.")


class AuditEntry(models.Model):
    """One thing staff or the system did: who, what, to what, from/to, why, from where.

    The one log (quota changes, API keys, people, images deleted by staff, channels,
    retention, sign-ins); written only through accounts.audit. Append-only: the code
    refuses updates and deletes, and on PostgreSQL a trigger does (migration 0007).
    Who and what are kept as text too, so a row still reads right once its person or
    group is deleted (the foreign keys are then set to NULL, the one update allowed).
    """

    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    actor_name = models.CharField(_("by"), max_length=150, blank=True)  # "" = the system
    # The person (or group) the entry is about, where there is one.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="quota_audit",
        verbose_name=_("person"),
    )
    group = models.ForeignKey(
        Group,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("group"),
    )
    subject = models.CharField(_("subject"), max_length=200)
    action = models.CharField(_("action"), max_length=40, db_index=True)
    target_type = models.CharField(_("target type"), max_length=40, blank=True, db_index=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    model = models.CharField(_("model"), max_length=200, blank=True)
    field = models.CharField(_("field"), max_length=40, blank=True)
    old_value = models.CharField(_("from"), max_length=100, blank=True)
    new_value = models.CharField(_("to"), max_length=100, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    reason = models.TextField(_("why"), blank=True)
    ip = models.GenericIPAddressField(_("from address"), null=True, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")

    def __str__(self) -> str:
        return f"{self.actor_name or _('system')} · {action_label(self.action)} · {self.subject}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("The audit log is append-only.")


class ApiKeyManager(APIKeyManager):
    def get_usable_keys(self) -> models.QuerySet[Any]:
        # Every API request asks whether the owner is active: one query, not two.
        return super().get_usable_keys().select_related("user")


class ApiKey(AbstractAPIKey):
    """A person's key for the OpenAI-compatible API (/v1).

    The library stores only a hash; `prefix` names the key in lists. The key is
    refused once revoked, expired, or its owner deactivated. An empty
    `allowed_models` means every model the catalog offers.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name=_("person"),
    )
    allowed_models = models.JSONField(_("allowed models"), default=list, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    # The key's own cap: at most `image_cap` images per `cap_period`, for `cap_model` or
    # (blank) across models, whatever its owner's quota. Counters move only through
    # accounts.quota.caps, with single conditional UPDATEs.
    image_cap = models.PositiveIntegerField(_("image cap"), null=True, blank=True)
    cap_period = models.CharField(
        _("cap period"), max_length=10, choices=Period.choices, default=Period.NEVER
    )
    cap_model = models.CharField(_("capped model"), max_length=200, blank=True)
    cap_used = models.PositiveIntegerField(_("images made under the cap"), default=0)
    cap_reserved = models.PositiveIntegerField(_("images held under the cap"), default=0)
    cap_since = models.DateTimeField(_("cap counting since"), default=timezone.now)

    objects: ClassVar[ApiKeyManager] = ApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")  # type: ignore[assignment]
        verbose_name_plural = _("API keys")  # type: ignore[assignment]

    def allows(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models


class DirectoryGroup(models.Model):
    """How single sign-on treats a quota group's membership.

    Managed: membership follows the identity provider's groups claim alone (someone
    the claim doesn't name is taken out at their next sign-in). Unmanaged (no row):
    the claim can add people; people an admin added by hand stay.
    """

    group = models.OneToOneField(
        Group, on_delete=models.CASCADE, primary_key=True, related_name="directory"
    )
    managed = models.BooleanField(
        _("directory-managed"),
        default=True,
        help_text=_("Membership follows the identity provider's groups at every sign-in."),
    )

    class Meta:
        verbose_name = _("directory setting")
        verbose_name_plural = _("directory settings")

    def __str__(self) -> str:
        return str(self.group)


class GroupPolicy(models.Model):
    """A group's governance overrides: how long images are kept, how much storage each
    member may use. None inherits the instance setting; 0 means forever / no cap. A
    person in several groups gets the most generous of their groups' values."""

    group = models.OneToOneField(
        Group, on_delete=models.CASCADE, related_name="policy", verbose_name=_("group")
    )
    retention_days = models.PositiveIntegerField(
        _("keep images (days)"),
        null=True,
        blank=True,
        help_text=_("Empty: the instance default (DARKROOM_RETENTION_DAYS). 0: forever."),
    )
    storage_cap_mb = models.PositiveIntegerField(
        _("storage per person (MB)"),
        null=True,
        blank=True,
        help_text=_("Empty: the instance default (DARKROOM_STORAGE_CAP_MB). 0: no cap."),
    )

    class Meta:
        verbose_name = _("group policy")
        verbose_name_plural = _("group policies")

    def __str__(self) -> str:
        return str(self.group)


class DirectoryMembership(models.Model):
    """A group membership the identity provider granted (so it may also take it away)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "group"], name="directorymembership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.group} (from the directory)"


class GroupPool(models.Model):
    """A quota group's shared images for one model and period, e.g. "designers share 500
    kontext-max images a month".

    Members draw from the pool when their own allowance is spent ("overflow"), or only
    from it ("only"). Counters move only through accounts.quota.pools, with single
    conditional UPDATEs, exactly like a person's quota.
    """

    class Mode(models.TextChoices):
        OVERFLOW = "overflow", _("when a member's own allowance is spent")
        ONLY = "only", _("instead of members' own allowances")

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="pools")
    model = models.CharField(_("model"), max_length=200)
    size = models.PositiveIntegerField(_("images in the pool"))
    period = models.CharField(
        _("period"), max_length=10, choices=Period.choices, default=Period.MONTHLY
    )
    mode = models.CharField(
        _("members draw"), max_length=10, choices=Mode.choices, default=Mode.OVERFLOW
    )
    used = models.PositiveIntegerField(_("used"), default=0)
    reserved = models.PositiveIntegerField(_("reserved"), default=0)
    used_since = models.DateTimeField(_("counting since"), default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "model"], name="grouppool_unique_group_model"),
        ]
        verbose_name = _("group pool")
        verbose_name_plural = _("group pools")

    def __str__(self) -> str:
        return f"{self.group} / {self.model}: {self.size}"


class ErasureRequest(models.Model):
    """A person asked for their data to be erased; staff erase it (generations.erasure)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="erasure_requests",
        verbose_name=_("person"),
    )
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    done_at = models.DateTimeField(_("erased"), null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("erasure request")
        verbose_name_plural = _("erasure requests")

    def __str__(self) -> str:
        state = _("erased") if self.done_at else _("open")
        return f"{self.user} ({state})"
