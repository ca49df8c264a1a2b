"""manage.py purge_expired [--dry-run]: apply the retention policy now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from generations.retention import purge_expired


class Command(BaseCommand):
    help = "Remove images (not starred ones) older than their owner's retention period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would go; remove nothing."
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        report = purge_expired(dry_run=opts["dry_run"])
        verb = "Would remove" if report.dry_run else "Removed"
        for username, removed in sorted(report.people.items()):
            self.stdout.write(
                f"{username}: {verb.lower()} {removed.images} images, "
                f"{removed.references} reference images ({_mb(removed.bytes)})"
            )
        total = report.total
        self.stdout.write(
            f"{verb} {total.images} images and {total.references} reference images "
            f"({_mb(total.bytes)}) of {len(report.people)} people; "
            f"{total.generations} generations fully purged."
        )


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
