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

import json
import os
import random
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.utils import timezone

from providers.base import ChannelConfig, ProviderError
from providers.crypto import decrypt
from providers.models import Channel, ChannelModel, Price
from providers.registry import is_supported


class Route(NamedTuple):
    """What a channel and one public model it serves resolve from (the rows' columns)."""

    upstream_model: str
    priority: int
    weight: int
    route_options: dict[str, Any]
    name: str
    format: str
    base_url: str
    base_url_env: str
    default_base_url: str
    api_key: str
    key_env: str
    channel_options: dict[str, Any]
    price: dict[str, Any]  # ChannelConfig's price fields: {} when not read
    healthy: bool


def resolve(route: ChannelModel) -> ChannelConfig:
    row = route.channel
    return _resolved(
        Route(
            route.upstream_model,
            route.priority,
            route.weight,
            route.options,
            row.name,
            row.format,
            row.base_url,
            row.base_url_env,
            row.default_base_url,
            row.api_key,
            row.key_env,
            row.options,
            {},  # not read: the attempt looks the price up (generations.spend.costs)
            row.consecutive_failures == 0 and row.disabled_until is None,
        )
    )


def _resolved(route: Route) -> ChannelConfig:
    if settings.DARKROOM_SIMULATOR_URL:
        base_url = settings.DARKROOM_SIMULATOR_URL
        api_key = settings.DARKROOM_SIMULATOR_KEY
    else:
        env_url = os.environ.get(route.base_url_env, "") if route.base_url_env else ""
        base_url = route.base_url or env_url or route.default_base_url
        key_env = os.environ.get(route.key_env, "") if route.key_env else ""
        api_key = route.api_key or key_env
    base_url = base_url.rstrip("/")
    options = {**route.channel_options, **route.route_options}
    host = (urlsplit(base_url).hostname or "").lower()
    extra_hosts = {h.lower() for h in options.get("result_hosts", [])}
    return ChannelConfig(
        **route.price,
        name=route.name,
        format=route.format,
        base_url=base_url,
        api_key=api_key,
        upstream_model=route.upstream_model,
        result_hosts=frozenset({host} | extra_hosts),
        options=options,
        timeout=float(options.get("timeout", settings.DARKROOM_UPSTREAM_TIMEOUT)),
        healthy=route.healthy,
    )


def _priced(per_image: Decimal | None, per_megapixel: Decimal | None) -> dict[str, Any]:
    return {"priced": True, "price": None if per_image is None else (per_image, per_megapixel)}


def channels_for(model: str, *, only: str | None = None) -> list[ChannelConfig]:
    """Usable channels for a public model, in the order to try them, each with its price
    for the model read in the same query (an attempt costs it: generations.spend).
    `only` (operators checking a channel): that channel, even switched off or cooling."""
    usable = [r for r in _routes(model, only) if is_supported(r.format)]
    if not usable and only is None and not ChannelModel.objects.filter(model=model).exists():
        return [resolve(r) for r in sorted(_after_sync(model), key=_order)]
    return [_resolved(r) for r in sorted(usable, key=_order)]


def _routes(model: str, only: str | None) -> list[Route]:
    """The model's routes with their price, in one query written out: the enabled routes
    of enabled channels not cooling off, or the one channel named `only`. Built by the
    ORM (select_related, two price subqueries, the Q of the cooling-off), it cost 2.5-3.3
    ms of the worker's thread CPU per step, the query itself 0.1 ms (bench/p6_steps.py).
    tests/test_channels.py checks it against the ORM's definition of the rules."""
    if only is None:
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        sql, params = _ROUTES_SQL + _USABLE, [model, now]
    else:
        sql, params = _ROUTES_SQL + _NAMED, [model, only]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_route(row) for row in rows]


def _route(row: tuple[Any, ...]) -> Route:
    (upstream, priority, weight, route_options, name, fmt) = row[:6]
    (base_url, base_url_env, default_base_url, api_key, key_env, channel_options) = row[6:12]
    return Route(
        upstream,
        priority,
        weight,
        _json(route_options),
        name,
        fmt,
        base_url,
        base_url_env,
        default_base_url,
        decrypt(api_key) if api_key else "",
        key_env,
        _json(channel_options),
        _priced(_decimal(row[12]), _decimal(row[13])),
        bool(row[14]),
    )


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


def _decimal(text: str | None) -> Decimal | None:
    # Read as text (SQLite keeps decimals as floats), at the columns' six places.
    return None if text is None else Decimal(text).quantize(_PLACES)


_PLACES = Decimal("0.000001")
_ROUTES_SQL = f"""
    SELECT cm.upstream_model, cm.priority, cm.weight, cm.options,
           c.name, c.format, c.base_url, c.base_url_env, c.default_base_url, c.api_key,
           c.key_env, c.options,
           CAST(p.per_image AS TEXT), CAST(p.per_megapixel AS TEXT),
           c.consecutive_failures = 0 AND c.disabled_until IS NULL
    FROM {ChannelModel._meta.db_table} cm
    JOIN {Channel._meta.db_table} c ON c.id = cm.channel_id
    LEFT JOIN {Price._meta.db_table} p ON p.channel_id = cm.channel_id AND p.model = cm.model
    WHERE cm.model = %s
"""  # noqa: S608  (table names from the models, every value a parameter)
_USABLE = " AND cm.enabled AND c.enabled AND (c.disabled_until IS NULL OR c.disabled_until <= %s)"
_NAMED = " AND c.name = %s"


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


def _order(route: Route | ChannelModel) -> tuple[int, float]:
    # Highest priority first; among equals, Efraimidis-Spirakis: sorting by -u^(1/w) is a
    # weighted random order.
    return -route.priority, -(random.random() ** (1 / max(route.weight, 1)))


def _after_sync(model: str) -> list[ChannelModel]:
    # A model added to the catalog since the last `migrate`: seed it now.
    from providers.services import channels_sync_catalog

    channels_sync_catalog()
    routes = ChannelModel.objects.select_related("channel").filter(
        model=model, enabled=True, channel__enabled=True
    )
    return [r for r in routes if is_supported(r.channel.format)]
