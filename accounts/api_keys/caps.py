"""Per-key caps: at most N images per period through one API key, race-free.

Like personal quotas (accounts.services): a reservation is one conditional UPDATE
(`used + reserved + n <= cap`, judged by the database under the row lock), and the
settlement runs once per generation, under the generation's own quota_state guard.
A new period starts by one idempotent UPDATE that zeroes `cap_used` only on rows
still counting from before the period's start.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Value
from django.db.models.functions import Greatest

from common.errors import KeyQuotaExceeded

from ..models import ApiKey, User
from ..quota_changes import audit_quota_change
from ..selectors import period_start

CAP_FIELDS = ("image_cap", "cap_period", "cap_model")


@dataclass(frozen=True)
class KeyCapStatus:
    cap: int
    used: int
    reserved: int
    model: str  # "" : across models
    period: str

    @property
    def left(self) -> int:
        return max(0, self.cap - self.used - self.reserved)


def key_cap_applies(key: ApiKey, model: str) -> bool:
    return key.image_cap is not None and (not key.cap_model or key.cap_model == model)


def key_cap_status(key: ApiKey) -> KeyCapStatus | None:
    if key.image_cap is None:
        return None
    _roll_period(key)
    fresh = ApiKey.objects.values("cap_used", "cap_reserved").get(pk=key.pk)
    return KeyCapStatus(
        key.image_cap, fresh["cap_used"], fresh["cap_reserved"], key.cap_model, key.cap_period
    )


def key_cap_reserve(*, key: ApiKey, model: str, n: int) -> int:
    """Hold n images under the key's cap; 0 if no cap applies. Refuses the request whole."""
    if not key_cap_applies(key, model):
        return 0
    _roll_period(key)
    cap = key.image_cap or 0
    held = (
        ApiKey.objects.filter(pk=key.pk, image_cap=cap)
        .filter(cap_used__lte=Value(cap - n) - F("cap_reserved"))
        .update(cap_reserved=F("cap_reserved") + n)
    )
    if held != 1:
        status = key_cap_status(key)
        left = status.left if status else 0
        raise KeyQuotaExceeded(
            f"This API key's cap is reached: {n} requested, {left} left of {cap}"
            f"{_per(key)}. Ask its owner or an admin to raise the cap.",
            left=left,
        )
    return n


def key_cap_settle(*, key_id: object, reserved: int, used: int) -> None:
    """Turn a reservation into images made under the cap and give the rest back."""
    if not reserved:
        return
    ApiKey.objects.filter(pk=key_id).update(
        cap_reserved=Greatest(F("cap_reserved") - reserved, Value(0)),
        cap_used=F("cap_used") + min(used, reserved),
    )


def _roll_period(key: ApiKey) -> None:
    start = period_start(key.cap_period)
    if start is not None:
        ApiKey.objects.filter(pk=key.pk, cap_since__lt=start).update(cap_used=0, cap_since=start)


def _per(key: ApiKey) -> str:
    period = "" if key.cap_period == "never" else f" per {key.get_cap_period_display().lower()}"
    model = f" for {key.cap_model}" if key.cap_model else ""
    return f"{model}{period}"


def key_cap_set(
    *,
    actor: User | None,
    key: ApiKey,
    image_cap: int | None,
    cap_period: str,
    cap_model: str,
    reason: str = "",
) -> list[str]:
    """Change a key's cap, auditing each changed field; the counters are never touched."""
    current = ApiKey.objects.values(*CAP_FIELDS).get(pk=key.pk)
    wanted = {"image_cap": image_cap, "cap_period": cap_period, "cap_model": cap_model}
    changed = [f for f in CAP_FIELDS if current[f] != wanted[f]]
    for field in changed:
        audit_quota_change(
            actor=actor,
            user=key.user,
            model=cap_model or current["cap_model"] or "all models",
            action="key cap",
            field=f"key {key.prefix} {field}",
            old="none" if current[field] is None else str(current[field]),
            new="none" if wanted[field] is None else str(wanted[field]),
            reason=reason,
            target=("api key", key.prefix),
        )
    if changed:
        ApiKey.objects.filter(pk=key.pk).update(**{f: wanted[f] for f in changed})
    return changed
