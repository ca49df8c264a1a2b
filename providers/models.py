"""Upstream channels an admin can add, edit, disable and re-order.

A `Channel` is one upstream endpoint: a wire format, a base URL and a key.
A `ChannelModel` says the channel serves one public model, under which upstream
model name, at which priority and weight. Channels named in the catalog are
seeded from it (`providers.services.channels_sync_catalog`, run after every
`migrate`); their URL and key default to the environment variables the catalog
names, so no secret has to live in the database unless an admin types one in.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from providers.crypto import EncryptedTextField


class Channel(models.Model):
    name = models.SlugField(_("name"), max_length=100, unique=True)
    format = models.CharField(_("wire format"), max_length=32)
    base_url = models.URLField(
        _("base URL"),
        max_length=500,
        blank=True,
        help_text=_("Blank: the environment variable below, else the catalog's default."),
    )
    base_url_env = models.CharField(_("base URL variable"), max_length=100, blank=True)
    default_base_url = models.URLField(
        _("catalog base URL"), max_length=500, blank=True, editable=False
    )
    api_key = EncryptedTextField(_("API key"), blank=True)
    key_hint = models.CharField(_("key"), max_length=32, blank=True, editable=False)
    key_env = models.CharField(_("API key variable"), max_length=100, blank=True)
    options = models.JSONField(_("options"), default=dict, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    from_catalog = models.BooleanField(_("from the catalog"), default=False, editable=False)

    # Health: a run of failures switches the channel off until `disabled_until`.
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    disabled_until = models.DateTimeField(_("cooling off until"), null=True, blank=True)
    disabled_reason = models.CharField(_("why cooling off"), max_length=500, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self) -> str:
        return self.name

    def cooling_off(self) -> bool:
        return self.disabled_until is not None and self.disabled_until > timezone.now()


class ChannelModel(models.Model):
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="routes", verbose_name=_("channel")
    )
    model = models.CharField(_("public model"), max_length=200, db_index=True)
    upstream_model = models.CharField(_("upstream model"), max_length=200)
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher goes first."))
    weight = models.PositiveIntegerField(
        _("weight"), default=1, help_text=_("Share among channels of equal priority.")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    options = models.JSONField(_("options"), default=dict, blank=True)

    class Meta:
        ordering = ["model", "-priority", "channel__name"]
        verbose_name = _("served model")
        verbose_name_plural = _("served models")
        constraints = [
            models.UniqueConstraint(fields=["channel", "model"], name="channel_model_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model} via {self.channel_id and self.channel.name}"


class ChannelFailure(models.Model):
    """One channel fault and whose job met it: a channel cools off only when several
    people's jobs failed on it (see providers.services.channel_failed)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="failures")
    person = models.IntegerField(null=True, blank=True)  # the job owner's user id
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["channel", "at"], name="channel_failure_at")]

    def __str__(self) -> str:
        return f"{self.channel_id} failed at {self.at:%Y-%m-%d %H:%M:%S}"


class Price(models.Model):
    """What one channel charges for one public model, in DARKROOM_CURRENCY.

    An attempt copies the price in force when its channel is picked, just before the
    call (providers.channels, providers.pricing), so changing a price never rewrites
    past spend.
    """

    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="prices", verbose_name=_("channel")
    )
    model = models.CharField(_("public model"), max_length=200)
    per_image = models.DecimalField(_("per image"), max_digits=12, decimal_places=6, default=0)
    per_megapixel = models.DecimalField(
        _("per megapixel"),
        max_digits=12,
        decimal_places=6,
        default=0,
        help_text=_("Added per megapixel of each image's size."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model", "channel__name"]
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        constraints = [
            models.UniqueConstraint(fields=["channel", "model"], name="price_channel_model_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model} via {self.channel_id and self.channel.name}"
