"""What the portal says about domain errors, in the person's language.

Services raise `DarkroomError`s with English API messages and a stable `code`;
the portal keys its translated text on that code (and the parameter's rules
from the catalog), falling back to the service's own message.
"""

from __future__ import annotations

from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from common.errors import DarkroomError, QuotaExceeded, StorageFull
from generations.models import Generation
from providers.catalog import ModelSpec, ParamSpec


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def error_text(exc: DarkroomError, spec: ModelSpec | None) -> str:
    if isinstance(exc, QuotaExceeded):
        return _quota_text(exc.left)
    if isinstance(exc, StorageFull):
        return _storage_text(exc)
    p = spec.param(exc.param) if spec and exc.param else None
    code = exc.code or ""
    if code == "model_not_found":
        return _("This model does not exist.")
    if code == "unknown_parameter":
        return _("This model does not take this setting.")
    if p is not None and p.is_image:
        return _image_text(code, p.type == "images", p.min_items, p.max_items)
    if code == "missing_required_parameter":
        return _("This field is required.")
    text = _param_text(code, p) if p is not None else None
    if text is not None:
        return text
    if code in {"invalid_type", "invalid_value"}:
        return _("Enter a valid value.")
    return exc.message


def reference_error_text(exc: DarkroomError, p: ParamSpec) -> str:
    """What to say about reference images given for `p` that cannot be used."""
    return _image_text(exc.code or "", p.type == "images", p.min_items, p.max_items)


def _quota_text(left: int) -> str:
    if left == 0:
        return _("No free images left for this model.")
    return _("Not enough free images left for this model: %(left)s left.") % {"left": left}


def _storage_text(exc: StorageFull) -> str:
    return _(
        "Your storage is full: %(used)s of %(cap)s used. Delete images you no longer need "
        "(History: select them, then Delete), or ask an administrator for more space."
    ) % {"used": filesizeformat(exc.used), "cap": filesizeformat(exc.cap)}


def _param_text(code: str, p: ParamSpec) -> str | None:
    """What to say about a bad value of `p` given its rules; None when nothing specific."""
    if code == "string_above_max_length":
        return _("Too long: at most %(max)s characters.") % {"max": p.max_length}
    if code == "value_out_of_range":
        return _("Must be between %(min)s and %(max)s.") % {"min": _fmt(p.min), "max": _fmt(p.max)}
    if p.type == "size":
        return _("Use a size like 1024x1024.")
    if p.type == "enum":
        return _("Choose one of the offered values.")
    return None


def _image_text(code: str, many: bool, lo: int, hi: int) -> str:
    if code == "missing_required_parameter":
        return _("Add an image: upload one or paste its URL.")
    if code == "invalid_image_count":
        if not many:
            return _("Use exactly one image here.")
        return _("Add between %(min)s and %(max)s images.") % {"min": lo, "max": hi}
    if code in {"image_too_large", "too_large"}:
        return _("This image is too large.")
    if code == "url_not_allowed":
        return _("This address can't be used: only public http(s) image URLs are allowed.")
    if code in {"fetch_failed", "fetch_timeout", "too_many_redirects"}:
        return _("The image at this URL could not be downloaded.")
    return _("This image can't be used. Try a PNG, JPEG or WebP file.")


_FAILURES = {
    "timeout": "slow",
    "upstream_timeout": "slow",
    "fetch_timeout": "slow",
    "content_policy_violation": "policy",
    "moderation_blocked": "policy",
    "no_channel": "no_channel",
    "upstream_rate_limited": "busy",
    "upstream_auth_failed": "auth",
    "invalid_api_key": "auth",
    "invalid_request": "settings",
    "invalid_parameter": "settings",
    "upstream_not_found": "settings",
}


def failure_text(generation: Generation) -> str:
    """A plain reason for a failed generation (the technical one is on the detail page)."""
    kind = _FAILURES.get(generation.error_code, "")
    reasons = {
        "slow": _("The image service took too long to answer."),
        "policy": _("The image service refused this prompt under its content policy."),
        "no_channel": _("No image service can run this model right now."),
        "busy": _("The image service is busy. Try again in a minute."),
        "auth": _("The image service refused our credentials. Please tell an admin."),
        "settings": _("The image service did not accept these settings."),
    }
    return reasons.get(kind, _("The image service had a problem."))
