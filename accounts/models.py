from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


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
