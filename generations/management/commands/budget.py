"""Operators' monthly money budgets, per group or for the whole instance.

python manage.py budget set --group designers --monthly 200 [--hard] [--alert-to alice]
python manage.py budget set --instance --monthly 1000
python manage.py budget show
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.management.commands.price import amount
from generations.models import Budget
from generations.spend.changes import budget_change
from providers.pricing import currency


class Command(BaseCommand):
    help = "Show or set monthly money budgets (a group's or the instance's)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show")
        setp = sub.add_parser("set")
        scope = setp.add_mutually_exclusive_group(required=True)
        scope.add_argument("--group")
        scope.add_argument("--instance", action="store_true")
        setp.add_argument("--monthly", required=True)
        setp.add_argument("--hard", action="store_true", help="refuse new requests at 100 %%")
        setp.add_argument(
            "--alert-to", action="append", metavar="USERNAME", help="staff to e-mail alerts to"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "set":
            self._set(opts)
        self.stdout.write(f"{'budget':30} {'monthly':>14} {'spent':>14} {'held':>14}  kind")
        for b in Budget.objects.select_related("group").order_by("-is_instance", "group__name"):
            kind = "hard" if b.hard else "soft"
            self.stdout.write(
                f"{b!s:30} {b.monthly:>14} {b.spent:>14} {b.reserved:>14}  {kind} {currency()}"
            )

    def _set(self, opts: dict[str, Any]) -> None:
        group = None
        if opts["group"]:
            group = Group.objects.filter(name=opts["group"]).first()
            if group is None:
                raise CommandError(f"no group named {opts['group']!r}")
        staff = None
        if opts["alert_to"]:
            users = get_user_model().objects.filter(username__in=opts["alert_to"], is_staff=True)
            staff = list(users)
            if len(staff) != len(set(opts["alert_to"])):
                raise CommandError("--alert-to takes usernames of staff members")
        budget_change(
            group=group,
            monthly=amount(opts["monthly"], "--monthly"),
            hard=opts["hard"],
            alert_to=staff,
        )
