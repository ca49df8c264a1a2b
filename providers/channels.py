"""Which channels serve a public model, resolved into concrete endpoints.

Channels live in the database (`providers.models`), seeded from the catalog.
Order: highest priority first, weighted at random among equals; disabled
channels and served models, and channels cooling off after repeated failures,
are left out, except when an operator forces one channel by name.

A channel's URL and key: `DARKROOM_SIMULATOR_URL` (with its key), when set,
points every channel at the simulator. Otherwise what the admin stored, else the
environment variable the channel names, else (URL only) the catalog's default.
"""

from __future__ import annotations

import os
import random
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from providers.base import ChannelConfig, ProviderError
from providers.models import ChannelModel, Price
from providers.registry import is_supported


def resolve(route: ChannelModel) -> ChannelConfig:
    row = route.channel
    if settings.DARKROOM_SIMULATOR_URL:
        base_url = settings.DARKROOM_SIMULATOR_URL
        api_key = settings.DARKROOM_SIMULATOR_KEY
    else:
        env_url = os.environ.get(row.base_url_env, "") if row.base_url_env else ""
        base_url = row.base_url or env_url or row.default_base_url
        api_key = row.api_key or (os.environ.get(row.key_env, "") if row.key_env else "")
    base_url = base_url.rstrip("/")
    options = {**row.options, **route.options}
    host = (urlsplit(base_url).hostname or "").lower()
    extra_hosts = {h.lower() for h in options.get("result_hosts", [])}
    return ChannelConfig(
        **_price(route),
        name=row.name,
        format=row.format,
        base_url=base_url,
        api_key=api_key,
        upstream_model=route.upstream_model,
        result_hosts=frozenset({host} | extra_hosts),
        options=options,
        timeout=float(options.get("timeout", settings.DARKROOM_UPSTREAM_TIMEOUT)),
    )


def _price(route: ChannelModel) -> dict[str, Any]:
    # channels_for annotates its routes with their price; other lookups do not.
    values = vars(route)
    if "price_per_image" not in values:
        return {}
    per_image, per_megapixel = values["price_per_image"], values["price_per_megapixel"]
    return {"priced": True, "price": None if per_image is None else (per_image, per_megapixel)}


def channels_for(model: str, *, only: str | None = None) -> list[ChannelConfig]:
    """Usable channels for a public model, in the order to try them, each with its price
    for the model read in the same query (an attempt costs it: generations.spend)."""
    price = Price.objects.filter(channel=OuterRef("channel_id"), model=model)
    routes = (
        ChannelModel.objects.select_related("channel")
        .filter(model=model)
        .order_by()  # sorted below; the default ordering's join costs the ORM ~0.5 ms
        .annotate(
            price_per_image=Subquery(price.values("per_image")[:1]),
            price_per_megapixel=Subquery(price.values("per_megapixel")[:1]),
        )
    )
    if only is not None:
        # Operators force a channel to check it: even one switched off or cooling.
        routes = routes.filter(channel__name=only)
    else:
        routes = routes.filter(enabled=True, channel__enabled=True).filter(
            Q(channel__disabled_until__isnull=True) | Q(channel__disabled_until__lte=timezone.now())
        )
    usable: list[ChannelModel] = [r for r in routes if is_supported(r.channel.format)]
    if not usable and only is None and not ChannelModel.objects.filter(model=model).exists():
        usable = _after_sync(model)
    ordered = sorted(usable, key=lambda r: (-r.priority, _weighted_key(r.weight)))
    return [resolve(r) for r in ordered]


def channel_named(model: str, name: str) -> ChannelConfig:
    """The channel an in-flight job was accepted by, even if switched off since."""
    route = (
        ChannelModel.objects.select_related("channel")
        .filter(model=model, channel__name=name)
        .first()
    )
    if route is None:
        raise ProviderError(
            f"channel {name!r} no longer serves {model}", code="no_channel", retryable=False
        )
    return resolve(route)


def _weighted_key(weight: int) -> float:
    # Efraimidis-Spirakis: sorting by -u^(1/w) is a weighted random order.
    return -(random.random() ** (1 / max(weight, 1)))


def _after_sync(model: str) -> list[ChannelModel]:
    # A model added to the catalog since the last `migrate`: seed it now.
    from providers.services import channels_sync_catalog

    channels_sync_catalog()
    routes = ChannelModel.objects.select_related("channel").filter(
        model=model, enabled=True, channel__enabled=True
    )
    return [r for r in routes if is_supported(r.channel.format)]
