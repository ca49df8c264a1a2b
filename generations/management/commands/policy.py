"""The content policy: blocked terms, for the instance or one group.

python manage.py policy block TERM [--group NAME] [--pattern]
python manage.py policy unblock TERM [--group NAME]
python manage.py policy show
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.models import PolicyTerm
from generations.spend.changes import policy_block, policy_unblock


class Command(BaseCommand):
    help = "Block or unblock prompt terms, or show the content policy."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show")
        block = sub.add_parser("block")
        block.add_argument("term")
        block.add_argument("--group")
        block.add_argument("--pattern", action="store_true", help="TERM is a regular expression")
        unblock = sub.add_parser("unblock")
        unblock.add_argument("term")
        unblock.add_argument("--group", help="only this group's policy (default: every policy)")

    def handle(self, *args: Any, **opts: Any) -> None:
        group = self._group(opts.get("group"))
        if opts["action"] == "block":
            try:
                policy_block(term=opts["term"], group=group, pattern=opts["pattern"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        elif opts["action"] == "unblock":
            removed = policy_unblock(term=opts["term"], group=group, everywhere=group is None)
            if not removed:
                raise CommandError(f"{opts['term']!r} is not blocked")
        for row in PolicyTerm.objects.select_related("group"):
            self.stdout.write(f"{row.policy:30} {row.kind:8} {row.term}")

    def _group(self, name: str | None) -> Group | None:
        if not name:
            return None
        group = Group.objects.filter(name=name).first()
        if group is None:
            raise CommandError(f"no group named {name!r}")
        return group
