"""Re-encrypt stored channel keys under the first DARKROOM_FIELD_ENCRYPTION_KEY."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from providers.crypto import rotate
from providers.models import Channel


class Command(BaseCommand):
    help = "Re-encrypt every stored channel API key with the newest field encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        table = connection.ops.quote_name(Channel._meta.db_table)
        # Raw SQL on purpose: the model field would decrypt on read and encrypt on write.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id, api_key FROM {table} WHERE api_key <> ''")  # noqa: S608
            rows = cursor.fetchall()
            for pk, token in rows:
                try:
                    fresh = rotate(token)
                except InvalidToken:
                    raise CommandError(
                        f"channel {pk}: no configured key decrypts it; nothing was changed"
                    ) from None
                cursor.execute(f"UPDATE {table} SET api_key = %s WHERE id = %s", [fresh, pk])  # noqa: S608
        self.stdout.write(f"re-encrypted {len(rows)} channel key(s)")
