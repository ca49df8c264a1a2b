"""Print a new API key for a user, alone on one line (for operators and scripts).

python manage.py issue_api_key alice --name "nightly batch"
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.api_keys import api_key_issue
from common.errors import DarkroomError


class Command(BaseCommand):
    help = "Issue a new API key for USERNAME and print it (it is not shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="issued by command")
        parser.add_argument(
            "--model",
            action="append",
            default=[],
            dest="models",
            help="allow only this model (repeatable); default: all",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        user = get_user_model().objects.filter(username=opts["username"]).first()
        if user is None:
            raise CommandError(f"no user named {opts['username']!r}")
        try:
            _row, key = api_key_issue(user=user, name=opts["name"], allowed_models=opts["models"])
        except DarkroomError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(key)
