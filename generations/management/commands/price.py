"""Operators' prices per channel x model, in DARKROOM_CURRENCY.

python manage.py price set --channel modelverse --model black-forest-labs/flux.1-dev \
    --per-image 0.025 [--per-megapixel 0.01]
python manage.py price show
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.spend.changes import price_change
from providers.catalog import get_catalog
from providers.models import Channel, Price
from providers.pricing import currency


def amount(raw: str, flag: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0:
        raise CommandError(f"{flag} takes an amount >= 0, like 0.04; got {raw!r}")
    return value


class Command(BaseCommand):
    help = "Show or set what a channel charges for a model."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show")
        setp = sub.add_parser("set")
        setp.add_argument("--channel", required=True)
        setp.add_argument("--model", required=True)
        setp.add_argument("--per-image", required=True)
        setp.add_argument("--per-megapixel", default="0")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "set":
            self._set(opts)
        self.stdout.write(f"{'model':52} {'channel':22} {'per image':>12} {'per MP':>12}")
        for price in Price.objects.select_related("channel"):
            self.stdout.write(
                f"{price.model:52} {price.channel.name:22} {price.per_image:>12} "
                f"{price.per_megapixel:>12} {currency()}"
            )

    def _set(self, opts: dict[str, Any]) -> None:
        channel = Channel.objects.filter(name=opts["channel"]).first()
        if channel is None:
            raise CommandError(f"no channel named {opts['channel']!r}")
        if get_catalog().get(opts["model"]) is None:
            raise CommandError(f"no model {opts['model']!r} in the catalog")
        price_change(
            channel=channel,
            model=opts["model"],
            per_image=amount(opts["per_image"], "--per-image"),
            per_megapixel=amount(opts["per_megapixel"], "--per-megapixel"),
        )
