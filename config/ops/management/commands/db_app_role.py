"""Create or update the PostgreSQL role web, worker and beat connect as (config/ops/db_roles.py)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.ops.db_roles import app_role_ensure


class Command(BaseCommand):
    help = (
        "Create or update the app's PostgreSQL role: rows only, no DDL, no DELETE or "
        "TRUNCATE on the audit log. Run as the owner, after migrate. The password comes "
        "from DARKROOM_APP_DB_PASSWORD."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--role", default=os.environ.get("DARKROOM_APP_DB_USER", "darkroom_app")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DARKROOM_APP_DB_PASSWORD", "")
        if len(password) < 12:
            raise CommandError("Set DARKROOM_APP_DB_PASSWORD (12 characters or more).")
        try:
            app_role_ensure(role=options["role"], password=password)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"role {options['role']}: rows only; the audit log append-only")
