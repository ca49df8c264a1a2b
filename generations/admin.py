"""Operations in the admin: generations (filters, errors, attempts, retry, stop) and images.

Read-only records: a generation or image is history, changed only by the actions,
which call generations.operations (and through it generations.services).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import truncatechars
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from accounts.admin.forms import CatalogModelFilter
from accounts.models import User
from common.errors import DarkroomError
from generations.models import Generation, Image
from generations.operations import generation_retry, generation_stop


class ChannelFilter(admin.SimpleListFilter):
    title = _("channel")
    parameter_name = "channel"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        names = Generation.objects.order_by("channel").values_list("channel", flat=True)
        return [(c or "-", c or _("(none)")) for c in names.distinct()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(channel="" if value == "-" else value)


def _thumbnail(image: Image, size: int = 64) -> SafeString:
    try:
        url = reverse("image_thumbnail", args=[image.pk])
    except NoReverseMatch:  # the portal's file views aren't mounted
        url = image.thumbnail.url if image.thumbnail else image.file.url
    return format_html(
        '<img src="{}" alt="" width="{}" height="{}" loading="lazy" '
        'style="object-fit:cover;border-radius:4px">',
        url,
        size,
        size,
    )


# The fields the models declare without a verbose name (bookkeeping the admin shows read-only),
# named here so a Chinese page says them in Chinese (Django reads read-only fields' labels
# from the form's Meta too).
GENERATION_LABELS = {
    "api_key": _("API key"),
    "lease_owner": _("lease owner"),
    "lease_expires_at": _("lease ends"),
    "step": _("step"),
    "lease_token": _("lease token"),
    "upstream_sent_at": _("sent upstream at"),
    "quota_pool": _("group pool"),
    "key_quota_reserved": _("images held under the key's cap"),
    "cost_undelivered": _("cost of nothing delivered"),
    "budget_reserved": _("money held on budgets"),
    "budgets": _("budgets"),
    "purged_images": _("images removed"),
}
IMAGE_LABELS = {
    "generation": _("generation"),
    "index": _("index"),
    "file": _("file"),
    "thumbnail": _("thumbnail"),
    "sha256": "SHA-256",
    "credentials_signer": _("credentials signer"),
    "thumbnail_bytes": _("thumbnail bytes"),
}


class GenerationForm(forms.ModelForm):
    class Meta:
        model = Generation
        fields = ()  # the admin names them
        labels = GENERATION_LABELS


class ImageForm(forms.ModelForm):
    class Meta:
        model = Image
        fields = ()  # the admin names them
        labels = IMAGE_LABELS


class ImageInline(admin.TabularInline):
    model = Image
    # An inline's column headers come from the model, not the form: the index through ours.
    fields = ("preview", "position", "width", "height", "format", "bytes", "starred")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description=_("image"))
    def preview(self, obj: Image) -> SafeString:
        return _thumbnail(obj, 96)

    @admin.display(description=_("index"))
    def position(self, obj: Image) -> int:
        return obj.index

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    form = GenerationForm
    list_display = [
        "short_id",
        "created_at",
        "user",
        "model",
        "status",
        "source",
        "channel",
        "n",
        "image_count",
        "error",
        "attempt_count",
    ]
    list_filter = [
        "status",
        CatalogModelFilter,
        ChannelFilter,
        "source",
        ("created_at", admin.DateFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = [
        "id",
        "prompt",
        "user__username",
        "user__email",
        "error_message",
        "upstream_id",
    ]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    inlines = [ImageInline]
    actions = ["retry", "stop_and_refund"]
    exclude = ["attempts", "upstream_state"]
    readonly_fields = ["attempts_table"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Generation]:
        return super().get_queryset(request).annotate(image_total=Count("images"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [f.name for f in Generation._meta.fields if f.name not in self.exclude]
        return [*fields, "attempts_table"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history: reports and quotas are computed from it

    @admin.display(description=_("id"), ordering="id")
    def short_id(self, obj: Generation) -> str:
        return str(obj.pk)[:8]

    @admin.display(description=_("images"), ordering="image_total")
    def image_count(self, obj: Generation) -> int:
        return getattr(obj, "image_total", 0)

    @admin.display(description=_("error"))
    def error(self, obj: Generation) -> str:
        if not obj.error_code:
            return ""
        return truncatechars(f"{obj.error_code}: {obj.error_message}", 90)

    @admin.display(description=_("attempts"))
    def attempt_count(self, obj: Generation) -> int:
        return len(obj.attempts or [])

    @admin.display(description=_("attempts"))
    def attempts_table(self, obj: Generation) -> SafeString:
        attempts = obj.attempts or []
        if not attempts:
            return SafeString("-")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    a.get("at", ""),
                    a.get("channel", ""),
                    "ok" if a.get("ok") else "failed",
                    a.get("code", ""),
                    a.get("message", ""),
                )
                for a in attempts
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            _("at"),
            _("channel"),
            _("result"),
            _("code"),
            _("message"),
            rows,
        )

    @admin.action(
        description=_("Retry (a new generation; spends quota again)"), permissions=["change"]
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[Generation]) -> None:
        for generation in queryset.select_related("user"):
            try:
                new = generation_retry(generation=generation)
            except DarkroomError as exc:
                messages.error(
                    request, f"{str(generation.pk)[:8]} ({generation.user}): {exc.message}"
                )
                continue
            url = reverse("admin:generations_generation_change", args=[new.pk])
            messages.success(
                request,
                format_html(
                    '{} retried as <a href="{}">{}</a>.',
                    str(generation.pk)[:8],
                    url,
                    str(new.pk)[:8],
                ),
            )

    @admin.action(description=_("Fail and refund (stuck ones)"), permissions=["change"])
    def stop_and_refund(self, request: HttpRequest, queryset: QuerySet[Generation]) -> None:
        actor = request.user if isinstance(request.user, User) else None
        ids = list(queryset.values_list("pk", flat=True))
        stopped = sum(generation_stop(generation_id=pk, actor=actor) for pk in ids)
        skipped = len(ids) - stopped
        messages.success(request, f"Failed and refunded {stopped}; {skipped} had already finished.")


class ImageModelFilter(CatalogModelFilter):
    model_field = "generation__model"


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    form = ImageForm
    list_display = [
        "thumb",
        "generation_link",
        "owner",
        "model_name",
        "width",
        "height",
        "format",
        "starred",
        "created_at",
    ]
    list_display_links = ["thumb"]
    list_filter = [
        ImageModelFilter,
        ("created_at", admin.DateFieldListFilter),
        "format",
        "starred",
        "credentials",
    ]
    search_fields = [
        "generation__user__username",
        "generation__model",
        "generation__prompt",
        "sha256",
    ]
    list_select_related = ["generation", "generation__user"]
    date_hierarchy = "created_at"
    readonly_fields = (
        "preview",
        "generation_link",
        "owner",
        "model_name",
        "index",
        "file",
        "thumbnail",
        "width",
        "height",
        "format",
        "bytes",
        "sha256",
        "credentials",
        "credentials_signer",
        "starred",
        "created_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the portal deletes images (files and all); the admin only looks

    @admin.display(description=_("image"))
    def thumb(self, obj: Image) -> SafeString:
        return _thumbnail(obj)

    @admin.display(description=_("image"))
    def preview(self, obj: Image) -> SafeString:
        try:
            url = reverse("image_detail", args=[obj.pk])
        except NoReverseMatch:
            return _thumbnail(obj, 384)
        return format_html('<a href="{}">{}</a>', url, _thumbnail(obj, 384))

    @admin.display(description=_("generation"), ordering="generation__created_at")
    def generation_link(self, obj: Image) -> SafeString:
        url = reverse("admin:generations_generation_change", args=[obj.generation_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.generation_id)[:8])

    @admin.display(description=_("person"), ordering="generation__user__username")
    def owner(self, obj: Image) -> str:
        return str(obj.generation.user)

    @admin.display(description=_("model"), ordering="generation__model")
    def model_name(self, obj: Image) -> str:
        return obj.generation.model


from generations import admin_people  # noqa: E402, F401  (the people admin with storage and erasure)
from generations.spend import admin as _spend_admin  # noqa: E402,F401  (registers its admins)
