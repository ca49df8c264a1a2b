"""Operators' view of quotas.

python manage.py quota show --user alice
python manage.py quota set --user alice --model black-forest-labs/flux.1-dev --limit 50
python manage.py quota set --user alice --model ... --limit default
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.quota import QuotaStatus, quota_set_limit, quota_status
from common.errors import DarkroomError
from providers.catalog import get_catalog


class Command(BaseCommand):
    help = "Show or set a person's image quotas."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show")
        show.add_argument("--user", required=True)
        setp = sub.add_parser("set")
        setp.add_argument("--user", required=True)
        setp.add_argument("--model", required=True)
        setp.add_argument("--limit", required=True, help="a number, or 'default'")

    def handle(self, *args: Any, **opts: Any) -> None:
        user = get_user_model().objects.filter(username=opts["user"]).first()
        if user is None:
            raise CommandError(f"no user named {opts['user']!r}")
        try:
            if opts["action"] == "set":
                self._row(self._set(user, opts["model"], opts["limit"]))
            else:
                self.stdout.write(f"{'model':52} {'limit':>7} {'used':>6} {'held':>6} {'left':>6}")
                for model in get_catalog().names():
                    self._row(quota_status(user=user, model=model))
        except DarkroomError as exc:
            raise CommandError(exc.message) from exc

    def _set(self, user: User, model: str, raw: str) -> QuotaStatus:
        if raw == "default":
            return quota_set_limit(user=user, model=model, limit=None)
        if not raw.isdigit():
            raise CommandError("--limit takes a whole number >= 0, or 'default'")
        return quota_set_limit(user=user, model=model, limit=int(raw))

    def _row(self, s: QuotaStatus) -> None:
        limit = "∞" if s.limit is None else str(s.limit)
        left = "∞" if s.left is None else str(s.left)
        self.stdout.write(f"{s.model:52} {limit:>7} {s.used:>6} {s.reserved:>6} {left:>6}")
