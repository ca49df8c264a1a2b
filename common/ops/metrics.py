"""Prometheus metrics: what is counted, and the text served at /metrics.

Counters and histograms are updated in whichever process does the work (web or
worker). With PROMETHEUS_MULTIPROC_DIR set, every process on a host writes them to
that directory and /metrics sums them (prometheus_client's multiprocess mode);
a worker on another host serves its own on DARKROOM_WORKER_METRICS_PORT.
The job gauges (config.ops.exposition) are read from the database at scrape time,
so any web process answers them for the whole cluster.
"""

from __future__ import annotations

import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
)
from prometheus_client.multiprocess import MultiProcessCollector

GENERATIONS = Counter(
    "darkroom_generations",
    "Generations finished, by model, final status and source (portal, api, cli).",
    ["model", "status", "source"],
)
IMAGES = Counter("darkroom_images_produced", "Result images stored, by model.", ["model"])
QUOTA_REFUSALS = Counter(
    "darkroom_quota_refusals", "Requests refused for lack of free quota, by model.", ["model"]
)
UPSTREAM_SECONDS = Histogram(
    "darkroom_upstream_request_duration_seconds",
    "Upstream HTTP calls: latency and outcome (ok, http_4xx, http_5xx, timeout, unreachable).",
    ["channel", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300),
)
WEBHOOKS = Counter(
    "darkroom_webhook_deliveries",
    "Webhook delivery attempts by outcome (delivered, retry, failed).",
    ["outcome"],
)
HTTP_SECONDS = Histogram(
    "darkroom_http_request_duration_seconds",
    "HTTP requests served, by Django view name, method and status class.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def process_registry() -> CollectorRegistry:
    """This host's counters: every process's (multiprocess mode) or this one's."""
    if not multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
