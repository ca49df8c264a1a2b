"""Re-encrypt stored channel keys under the first DARKROOM_FIELD_ENCRYPTION_KEY."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from providers.services import channel_keys_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored channel API key with the newest field encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            done = channel_keys_rotate()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"re-encrypted {done} channel key(s)")
