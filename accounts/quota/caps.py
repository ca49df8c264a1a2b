"""Per-key caps: at most N images per period through one API key, race-free.

The counters move through the budget algebra (accounts.quota.budget) like a person's
quota; settlement is once per generation, under the generation's quota_state guard.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import ApiKey, User
from accounts.quota import budget
from accounts.quota.budget import KEY
from accounts.quota.changes import audit_quota_change
from common.errors import KeyQuotaExceeded

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
        return budget.left(self.cap, self.used, self.reserved) or 0


def key_cap_applies(key: ApiKey, model: str) -> bool:
    return key.image_cap is not None and (not key.cap_model or key.cap_model == model)


def key_cap_status(key: ApiKey) -> KeyCapStatus | None:
    if key.image_cap is None:
        return None
    budget.roll(KEY, key.pk, period=key.cap_period)
    used, reserved = budget.counters(KEY, key.pk)
    return KeyCapStatus(key.image_cap, used, reserved, key.cap_model, key.cap_period)


def key_cap_reserve(*, key: ApiKey, model: str, n: int) -> int:
    """Hold n images under the key's cap; 0 if no cap applies. Refuses the request whole."""
    if not key_cap_applies(key, model):
        return 0
    budget.roll(KEY, key.pk, period=key.cap_period)
    cap = key.image_cap or 0
    if not budget.reserve(KEY, ApiKey.objects.filter(pk=key.pk, image_cap=cap), limit=cap, n=n):
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
    if reserved:
        rows = ApiKey.objects.filter(pk=key_id)
        budget.settle(KEY, rows, reserved=reserved, used=min(used, reserved))


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
