"""Submit a generation through the same service as the portal, wait, print the result.

    python manage.py generate --user alice --model black-forest-labs/flux.1-dev \
        --prompt "a lighthouse at dusk" --param n=2 --param size=512x512
    python manage.py generate ... --image image=./cat.png      # or image=https://...
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.errors import DarkroomError
from generations.models import Generation
from generations.services import generation_create


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise CommandError(f"{flag} takes NAME=VALUE, got {value!r}")
        pairs.append((key.strip(), rest))
    return pairs


class Command(BaseCommand):
    help = "Generate images as a user, wait for the job and print the stored files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True)
        parser.add_argument("--model", required=True)
        parser.add_argument("--prompt", default="")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument("--image", action="append", default=[], metavar="PARAM=PATH_OR_URL")
        parser.add_argument("--channel", help="force one upstream channel by name")
        parser.add_argument("--timeout", type=float, default=600.0)

    def handle(self, *args: Any, **opts: Any) -> None:
        user = get_user_model().objects.filter(username=opts["user"]).first()
        if user is None:
            raise CommandError(f"no user named {opts['user']!r}")
        images: dict[str, list[Any]] = {}
        for param, ref in _pairs(opts["image"], "--image"):
            path = Path(ref)
            images.setdefault(param, []).append(path.read_bytes() if path.is_file() else ref)
        try:
            generation = generation_create(
                user=user,
                model=opts["model"],
                prompt=opts["prompt"],
                params=dict(_pairs(opts["param"], "--param")),
                images=images,
                source=Generation.Source.CLI,
                channel=opts["channel"],
            )
        except DarkroomError as exc:
            where = f" [{exc.param}]" if exc.param else ""
            raise CommandError(f"{exc.code}{where}: {exc.message}") from exc
        self.stdout.write(f"queued {generation.pk}")
        self._report(self._wait(generation, opts["timeout"]))

    def _wait(self, generation: Generation, timeout: float) -> Generation:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            generation.refresh_from_db()
            if generation.is_finished:
                return generation
            time.sleep(0.5)
        raise CommandError(f"still {generation.status} after {timeout:g}s: job {generation.pk}")

    def _report(self, generation: Generation) -> None:
        if generation.status == Generation.Status.FAILED:
            raise CommandError(f"failed: {generation.error_code}: {generation.error_message}")
        self.stdout.write(f"succeeded via channel {generation.channel}")
        for image in generation.images.all():
            try:
                location: str = image.file.path
            except NotImplementedError:  # remote storage (S3): print the storage name
                location = image.file.name or ""
            self.stdout.write(f"{location}  {image.width}x{image.height} {image.format}")
