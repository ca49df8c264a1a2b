"""Channel writes: seeding from the catalog, health (failures, cooling off), admin keys
and their rotation."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from providers.base import ProviderError
from providers.catalog import Catalog, get_catalog
from providers.crypto import rotate
from providers.models import Channel, ChannelFailure, ChannelModel


def channels_sync_catalog(catalog: Catalog | None = None) -> int:
    """Create the catalog's channels and served models that are missing; return how many.

    Existing rows are left as they are: once seeded, the admin owns priorities,
    weights, URLs and switches, and a re-run never undoes an edit.
    """
    created = 0
    with transaction.atomic():
        for model in (catalog or get_catalog()).models.values():
            for spec in model.channels:
                channel, new = Channel.objects.get_or_create(
                    name=spec.name,
                    defaults={
                        "format": spec.format,
                        "base_url_env": spec.base_url_env,
                        "default_base_url": spec.base_url,
                        "key_env": spec.key_env,
                        "from_catalog": True,
                    },
                )
                _, new_route = ChannelModel.objects.get_or_create(
                    channel=channel,
                    model=model.name,
                    defaults={
                        "upstream_model": spec.upstream_model,
                        "priority": spec.priority,
                        "weight": spec.weight,
                        "options": dict(spec.options),
                    },
                )
                created += int(new) + int(new_route)
    return created


def channel_set_key(*, channel: Channel, api_key: str) -> None:
    """Store a new key (encrypted) and the hint the admin shows instead of it."""
    channel.api_key = api_key.strip()
    channel.key_hint = key_hint(channel.api_key)
    channel.save(update_fields=["api_key", "key_hint", "updated_at"])


def key_hint(api_key: str) -> str:
    if not api_key:
        return ""
    return f"…{api_key[-4:]}" if len(api_key) >= 12 else "…"


# Failures that say something about the channel itself. A request's own fault (400,
# moderation) or a "slow down" (429, with its Retry-After) does not count toward
# cooling the channel off.
CHANNEL_FAULTS = {
    "upstream_unavailable",
    "upstream_timeout",
    "upstream_bad_response",
    "upstream_auth_failed",
}


def channel_failed(*, name: str, error: ProviderError, person: int | None = None) -> bool:
    """Count a channel fault; past the threshold, cool the channel off. True if it just did.

    What counts is the failures since the last success within the last
    DARKROOM_CHANNEL_FAILURE_WINDOW seconds, by distinct people (`person`: the job
    owner): they must come from DARKROOM_CHANNEL_FAILURE_PEOPLE different people, and
    each person counts for at most their share of DARKROOM_CHANNEL_FAILURE_THRESHOLD,
    so one person's requests that an upstream chokes on cannot take it off for everyone.
    """
    if error.code not in CHANNEL_FAULTS:
        return False
    now = timezone.now()
    message = f"{error.code}: {error.message}"[:500]
    Channel.objects.filter(name=name).update(
        consecutive_failures=F("consecutive_failures") + 1,
        last_error=message,
        last_failure_at=now,
    )
    channel = Channel.objects.filter(name=name).first()
    if channel is None:
        return False
    window_start = now - timedelta(seconds=settings.DARKROOM_CHANNEL_FAILURE_WINDOW)
    ChannelFailure.objects.filter(channel=channel, at__lt=window_start).delete()
    ChannelFailure.objects.create(channel=channel, person=person, at=now)
    if not _enough_people_failed(channel):
        return False
    return _cool_off(channel, now, message)


def _enough_people_failed(channel: Channel) -> bool:
    threshold = settings.DARKROOM_CHANNEL_FAILURE_THRESHOLD
    people = max(1, settings.DARKROOM_CHANNEL_FAILURE_PEOPLE)
    share = -(-threshold // people)  # ceil: what one person may count for
    per_person = (
        ChannelFailure.objects.filter(channel=channel)
        .values("person")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    counts = list(per_person)
    return len(counts) >= people and sum(min(n, share) for n in counts) >= threshold


def _cool_off(channel: Channel, now: datetime, message: str) -> bool:
    threshold = settings.DARKROOM_CHANNEL_FAILURE_THRESHOLD
    until = now + timedelta(seconds=settings.DARKROOM_CHANNEL_COOLDOWN)
    # One conditional statement: of many workers crossing the threshold together,
    # one switches the channel off; the rest find it already cooling.
    return bool(
        Channel.objects.filter(pk=channel.pk)
        .filter(Q(disabled_until__isnull=True) | Q(disabled_until__lte=now))
        .update(
            disabled_until=until,
            disabled_reason=f"{threshold} failures in a row; last: {message}"[:500],
        )
    )


def channel_succeeded(*, name: str) -> None:
    # Written only when there is something to reset: a healthy channel costs one
    # statement that matches nothing (every successful image pays it), no write.
    reset = (
        Channel.objects.filter(name=name)
        .filter(Q(consecutive_failures__gt=0) | Q(disabled_until__isnull=False))
        .update(
            consecutive_failures=0,
            disabled_until=None,
            disabled_reason="",
            last_success_at=timezone.now(),
        )
    )
    if reset:
        ChannelFailure.objects.filter(channel__name=name).delete()


def channels_switch(*, channel_ids: list[int], enabled: bool) -> int:
    """Switch channels on or off (the admin's bulk action); how many rows changed."""
    return Channel.objects.filter(pk__in=channel_ids).update(enabled=enabled)


def channel_reenable(*, channel: Channel) -> None:
    """An admin ends a cooling-off early."""
    ChannelFailure.objects.filter(channel=channel).delete()
    Channel.objects.filter(pk=channel.pk).update(
        consecutive_failures=0, disabled_until=None, disabled_reason=""
    )


def channel_keys_rotate() -> int:
    """Re-encrypt every stored channel key under the newest field encryption key.

    All or nothing: a key no configured secret decrypts raises ValueError and nothing
    is changed. Returns how many keys were re-encrypted.
    """
    table = connection.ops.quote_name(Channel._meta.db_table)
    # Raw SQL on purpose: the model field would decrypt on read and encrypt on write.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT id, api_key FROM {table} WHERE api_key <> ''")  # noqa: S608
        rows = cursor.fetchall()
        for pk, token in rows:
            try:
                fresh = rotate(token)
            except InvalidToken:
                raise ValueError(
                    f"channel {pk}: no configured key decrypts it; nothing was changed"
                ) from None
            cursor.execute(f"UPDATE {table} SET api_key = %s WHERE id = %s", [fresh, pk])  # noqa: S608
    return len(rows)
