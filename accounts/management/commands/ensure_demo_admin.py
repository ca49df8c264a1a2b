"""Create the demo admin if it does not exist, and print how to sign in."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo admin account (DEMO_ADMIN_USERNAME / DEMO_ADMIN_PASSWORD)."

    def handle(self, *args: Any, **opts: Any) -> None:
        username = os.environ.get("DEMO_ADMIN_USERNAME", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "darkroom-demo")
        User = get_user_model()
        if not User.objects.filter(username=username).exists():
            User.objects.create_superuser(username, f"{username}@example.com", password)
            self.stdout.write(f"Created demo admin. Sign in as {username} / {password}")
        else:
            self.stdout.write(f"Demo admin exists. Sign in as {username} (password unchanged)")
