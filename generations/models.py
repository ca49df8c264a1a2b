from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def _upload_name(prefix: str, ext: str) -> str:
    # Non-guessable: a random name, never the user's filename.
    return f"{prefix}/{uuid.uuid4().hex[:2]}/{uuid.uuid4().hex}.{ext}"


class Generation(models.Model):
    """One request for images: what was asked, how it went, and its quota state."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Done")
        FAILED = "failed", _("Failed")

    class Source(models.TextChoices):
        PORTAL = "portal", _("Portal")
        API = "api", _("API")
        CLI = "cli", _("Command line")

    class QuotaState(models.TextChoices):
        RESERVED = "reserved", _("Reserved")
        COMMITTED = "committed", _("Committed")
        RELEASED = "released", _("Released")

    FINISHED = (Status.SUCCEEDED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="generations",
        verbose_name=_("person"),
    )
    model = models.CharField(_("model"), max_length=200)
    prompt = models.TextField(_("prompt"), blank=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    n = models.PositiveSmallIntegerField(_("images requested"), default=1)
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.PORTAL
    )
    # The API key a request came with (source "api"); kept when the key is deleted later.
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
    )

    # The prompt library's preset it was made from (kept as null once the preset goes).
    preset = models.ForeignKey(
        "presets.Preset",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
        verbose_name=_("preset"),
    )
    # Jobs sent together by "Compare" (one prompt, several models) share this id.
    comparison = models.UUIDField(_("comparison"), null=True, blank=True, db_index=True)

    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), blank=True)

    channel = models.CharField(_("channel"), max_length=100, blank=True)
    upstream_id = models.CharField(_("upstream job id"), max_length=200, blank=True)
    # Per-format state between a create and its polls (async upstreams).
    upstream_state = models.JSONField(null=True, blank=True)
    retries = models.PositiveSmallIntegerField(_("retries"), default=0)
    attempts = models.JSONField(_("attempts"), default=list, blank=True)

    # The row is the truth, a broker message only a nudge (generations.leases): the worker
    # running a step holds a lease it renews; past `lease_expires_at` (a dead worker, a
    # lost message, a job never picked up) the relay publishes the job again.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Which step a message is for: bumped after every step, so a stale or duplicate
    # message (a redelivery, a relay nudge that raced the original) is dropped.
    step = models.PositiveIntegerField(default=0)
    # The fencing token: bumped by every claim of the lease. A worker whose token is no
    # longer the row's (the relay gave its step away) sends nothing and schedules nothing.
    lease_token = models.PositiveIntegerField(default=0)
    # Set just before a submit is sent upstream, cleared once its outcome is stored: a
    # resumed job that finds it set knows the upstream may have done (and billed) the work.
    upstream_sent_at = models.DateTimeField(null=True, blank=True)

    quota_reserved = models.PositiveSmallIntegerField(_("images reserved"), default=0)
    # Which budget holds the images (accounts.quota.Hold.budget): "person", the person's
    # own quota, or "pool", `quota_pool`. Recorded apart from the pool, so a job whose
    # pool was deleted (with its group) settles nowhere rather than on the person's quota.
    quota_budget = models.CharField(_("quota budget"), max_length=10, default="person")
    # The group pool the images were drawn from, while it exists.
    quota_pool = models.ForeignKey(
        "accounts.GroupPool", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Images held under the API key's own cap (0: no cap applied); settled with the quota.
    key_quota_reserved = models.PositiveSmallIntegerField(default=0)
    quota_state = models.CharField(
        _("quota state"), max_length=10, choices=QuotaState.choices, default=QuotaState.RESERVED
    )
    # Images charged to the quota when the job finished: the report's "spent". Kept
    # apart from the image rows, which a person may delete later.
    quota_used = models.PositiveSmallIntegerField(_("images charged"), default=0)
    # Money (DARKROOM_CURRENCY): what the upstream attempts cost (set when the job
    # finishes, from its attempts), of that what bought nothing delivered, and what the
    # job holds on its money budgets (`budgets`: their ids) until it settles.
    cost = models.DecimalField(_("cost"), max_digits=14, decimal_places=6, default=0)
    cost_undelivered = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    budget_reserved = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    budgets = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Set when retention or erasure removed its files: the row stays for accounting.
    purged_at = models.DateTimeField(_("files removed"), null=True, blank=True)
    # Images retention or erasure removed: reports still count them (generations.purged_counts).
    purged_images = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("generation")
        verbose_name_plural = _("generations")
        # The gallery's order per person, alone and under its model and status filters.
        # (On PostgreSQL, migration 0010_gallery_indexes adds a trigram index for prompt
        # search too.)
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="gen_user_created_id"),
            models.Index(
                fields=["user", "model", "-created_at", "-id"], name="gen_user_model_created"
            ),
            models.Index(
                fields=["user", "status", "-created_at", "-id"], name="gen_user_status_created"
            ),
            models.Index(fields=["status", "created_at"], name="gen_status_created"),
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status__in=["queued", "running"]),
                name="gen_unfinished_lease",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.get_status_display()} ({self.id})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


def image_upload_to(instance: Image, filename: str) -> str:  # noqa: ARG001
    return _upload_name("images", filename.rsplit(".", 1)[-1].lower())


def thumbnail_upload_to(instance: Image, filename: str) -> str:  # noqa: ARG001
    return _upload_name("thumbs", "webp")


def reference_upload_to(instance: ReferenceImage, filename: str) -> str:  # noqa: ARG001
    return _upload_name("refs", filename.rsplit(".", 1)[-1].lower())


class Image(models.Model):
    """A result image, copied into our storage the moment the upstream gave it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=image_upload_to, max_length=255)
    thumbnail = models.FileField(upload_to=thumbnail_upload_to, max_length=255, blank=True)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    format = models.CharField(_("format"), max_length=10)
    bytes = models.PositiveIntegerField(_("bytes"))
    sha256 = models.CharField(max_length=64)
    starred = models.BooleanField(_("starred"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    # Content credentials (generations.provenance): "signed", "failed", or "" (stored
    # before signing existed). The file, sha256 and bytes are the signed ones.
    credentials = models.CharField(_("content credentials"), max_length=10, blank=True)
    credentials_signer = models.CharField(max_length=200, blank=True)
    thumbnail_bytes = models.PositiveIntegerField(default=0)  # for storage use

    class Meta:
        ordering = ["generation", "index"]
        verbose_name = _("image")
        verbose_name_plural = _("images")

    def __str__(self) -> str:
        return f"{self.generation_id}#{self.index}"


class ReferenceImage(models.Model):
    """An input image (`image`, `images`, `mask`) as we received and checked it."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="references")
    param = models.CharField(max_length=32)
    position = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=reference_upload_to, max_length=255)
    source_url = models.URLField(max_length=2000, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=10)
    bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["generation", "param", "position"]

    def __str__(self) -> str:
        return f"{self.generation_id} {self.param}[{self.position}]"


class IdempotencyRecord(models.Model):
    """An API request's Idempotency-Key: a retry with the same body gets the same job.

    The unique (user, key) row is inserted first in the transaction that creates the
    generation, so concurrent retries queue on the database and only one spends quota.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    body_hash = models.CharField(max_length=64)
    # Null only inside the creating transaction, which sets it before committing.
    generation = models.ForeignKey(Generation, null=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.key}"


class Webhook(models.Model):
    """Where to POST a signed notice when an API job finishes (`webhook_url`)."""

    generation = models.OneToOneField(Generation, on_delete=models.CASCADE, related_name="webhook")
    url = models.URLField(max_length=2000)
    # Where the caller reached us: the notice's image URLs are built on it.
    base_url = models.URLField(max_length=500)
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"{self.generation_id} -> {self.url}"


# Models of the generations app that live beside their own code; imported last, since they
# point at the models above.
from generations.spend.models import (  # noqa: E402
    Budget,
    BudgetAlert,
    ModerationRefusal,
    PolicyTerm,
)

__all__ = [
    "Budget",
    "BudgetAlert",
    "Generation",
    "IdempotencyRecord",
    "Image",
    "ModerationRefusal",
    "PolicyTerm",
    "ReferenceImage",
    "Webhook",
]
