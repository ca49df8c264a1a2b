from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey


class User(AbstractUser):
    """Custom from the first migration, so fields can be added without pain."""


class Quota(models.Model):
    """A person's images for one model: limit, images used, images held by running jobs.

    `limit` None means "inherit" (the catalog's free quota). Change `used` and
    `reserved` only through accounts.services, with single conditional UPDATEs.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quotas")
    model = models.CharField(_("model"), max_length=200)
    limit = models.PositiveIntegerField(_("limit"), null=True, blank=True)
    used = models.PositiveIntegerField(_("used"), default=0)
    reserved = models.PositiveIntegerField(_("reserved"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "model"], name="quota_unique_user_model"),
        ]
        verbose_name = _("quota")

    def __str__(self) -> str:
        return f"{self.user} / {self.model}"


class ApiKey(AbstractAPIKey):
    """A person's key for the OpenAI-compatible API (/v1).

    The library stores only a hash; `prefix` names the key in lists. The key is
    refused once revoked, expired, or its owner deactivated. An empty
    `allowed_models` means every model the catalog offers.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    allowed_models = models.JSONField(_("allowed models"), default=list, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def allows(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models
