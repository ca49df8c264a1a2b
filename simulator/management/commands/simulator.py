"""`manage.py simulator`: run the upstream simulator until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import contextlib
import resource
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from simulator import SimulatorServer


class Command(BaseCommand):
    help = "Serve the simulated upstream image APIs (ModelVerse, reseller, BFL) on a local port."
    # Needs no database and no catalog: it simulates the far side of the wire.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--link-ttl",
            type=float,
            default=None,
            help="Seconds result links live (default: each format's own, ModelVerse 7 days).",
        )
        parser.add_argument(
            "--latency", type=float, default=0.0, help="Seconds every API call waits first."
        )
        parser.add_argument(
            "--key",
            action="append",
            dest="keys",
            help="Accepted bearer key; repeat for several (default: DARKROOM_SIMULATOR_KEY).",
        )
        parser.add_argument(
            "--job-seconds",
            type=float,
            default=1.0,
            help="Seconds an asynchronous job (Replicate, BFL) runs before it is done.",
        )
        parser.add_argument(
            "--threaded",
            action="store_true",
            help="A thread per connection (the old transport), for comparison benches.",
        )
        parser.add_argument(
            "--public-url",
            default=None,
            help="Base URL put in result links (default: the Host the client used).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # A socket per call in flight: a thousand slow calls need more
        # descriptors than a 1024 soft limit (raised up to the hard limit).
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        server = SimulatorServer(
            options["host"],
            options["port"],
            link_ttl=options["link_ttl"],
            latency=options["latency"],
            keys=options["keys"] or [settings.DARKROOM_SIMULATOR_KEY],
            public_url=options["public_url"],
            job_seconds=options["job_seconds"],
            threaded=options["threaded"],
        )
        stop = threading.Event()
        # honcho and docker stop with SIGTERM; treat it like Ctrl-C.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        server.start()
        self.stdout.write(f"Simulator listening on {server.url} (Ctrl-C to stop)")
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
        self.stdout.write("Simulator stopped.")
