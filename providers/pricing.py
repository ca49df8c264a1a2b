"""What the upstreams charge: one price per channel x public model, in one currency.

Money is Decimal end to end (never float). An attempt's cost is computed here and
copied into the attempt entry, so the price in force at the call is what counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction

from common.sizes import match_size
from providers.catalog import Catalog, get_catalog
from providers.models import Channel, ChannelModel, Price
from providers.wire import RATIO_SIZES

ZERO = Decimal(0)
MICRO = Decimal("0.000001")  # the database keeps six decimal places
MEGAPIXEL = Decimal(1_000_000)
DEFAULT_PIXELS = 1024 * 1024  # the catalog's default size, when a request names none


def currency() -> str:
    return str(settings.DARKROOM_CURRENCY)


def megapixels(params: dict[str, object]) -> Decimal:
    """Megapixels of one image of the request: its `size`, else the size its
    `aspect_ratio` is delivered at (21:9 is 1568x672, a little over 1024x1024), else
    1024x1024. A budget holds this much per image, so it must not be under the delivery."""
    size = match_size(params.get("size"))
    if not (size and size[0] and size[1]):
        size = RATIO_SIZES.get(str(params.get("aspect_ratio")), None)
    pixels = size[0] * size[1] if size and size[0] and size[1] else DEFAULT_PIXELS
    return Decimal(pixels) / MEGAPIXEL


def size_megapixels(width: int, height: int) -> Decimal:
    return Decimal(width * height) / MEGAPIXEL


def unit_cost(price: Price | None, mp: Decimal) -> Decimal:
    if price is None:
        return ZERO
    return price.per_image + price.per_megapixel * mp


def price_of(*, channel: str, model: str) -> Price | None:
    return Price.objects.filter(channel__name=channel, model=model).first()


def cost_at(price: Price | None, *, n: int, params: dict[str, object]) -> Decimal:
    """What one upstream call for `n` images costs at `price` (price_of: the one in force).

    Rounded (half up) to the micro-unit the database keeps, here and only here, so
    every total is an exact sum of the attempts' recorded costs.
    """
    return money(unit_cost(price, megapixels(params)) * n)


def money(amount: Decimal) -> Decimal:
    return amount.quantize(MICRO, rounding=ROUND_HALF_UP)


def terms_of(price: Price) -> dict[str, str]:
    """The price as an attempt entry keeps it (Decimals as text)."""
    return {"per_image": str(price.per_image), "per_megapixel": str(price.per_megapixel)}


def delivered_cost(
    terms: dict[str, str], *, n: int, requested: Decimal, delivered: list[Decimal]
) -> Decimal:
    """What one call for `n` images cost at `terms`, each image at the megapixels the
    upstream delivered (`delivered`, in order); an image it did not deliver counts at
    the `requested` megapixels. Rounded once, as cost_at is."""
    sizes = delivered[:n] + [requested] * max(0, n - len(delivered))
    per_image, per_megapixel = Decimal(terms["per_image"]), Decimal(terms["per_megapixel"])
    return money(per_image * n + per_megapixel * sum(sizes, ZERO))


def dearest_cost(*, model: str, n: int, params: dict[str, object]) -> Decimal:
    """The most one call for the job could cost: its images at the dearest enabled channel."""
    channels = ChannelModel.objects.filter(
        model=model, enabled=True, channel__enabled=True
    ).values_list("channel_id", flat=True)
    prices = Price.objects.filter(model=model, channel_id__in=list(channels))
    mp = megapixels(params)
    return money(max((unit_cost(p, mp) for p in prices), default=ZERO) * n)


@dataclass(frozen=True)
class PriceChange:
    price: Price
    old: tuple[Decimal, Decimal] | None  # None: there was no price


def price_set(
    *, channel: Channel, model: str, per_image: Decimal, per_megapixel: Decimal = ZERO
) -> PriceChange:
    """Create or change one price; the caller audits the change it returns."""
    if per_image < 0 or per_megapixel < 0:
        raise ValueError("a price is an amount >= 0")
    with transaction.atomic():
        price = Price.objects.select_for_update().filter(channel=channel, model=model).first()
        old = (price.per_image, price.per_megapixel) if price else None
        if price is None:
            price = Price(channel=channel, model=model)
        price.per_image, price.per_megapixel = per_image, per_megapixel
        price.save()
    return PriceChange(price, old)


def prices_sync_catalog(catalog: Catalog | None = None) -> int:
    """Seed the catalog's prices that have no row yet; the admin owns them after that."""
    created = 0
    for model in (catalog or get_catalog()).models.values():
        for spec in model.channels:
            if spec.price_per_image is None and spec.price_per_megapixel is None:
                continue
            channel = Channel.objects.filter(name=spec.name).first()
            if channel is None:
                continue
            _, new = Price.objects.get_or_create(
                channel=channel,
                model=model.name,
                defaults={
                    "per_image": spec.price_per_image or ZERO,
                    "per_megapixel": spec.price_per_megapixel or ZERO,
                },
            )
            created += int(new)
    return created
