"""The text served at /metrics: this host's counters plus job gauges read from the database."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.ops.metrics import process_registry


class JobsCollector(Collector):
    """Jobs queued and in flight, counted in the database when scraped."""

    def collect(self) -> list[GaugeMetricFamily]:
        from django.db.models import Count

        from generations.models import Generation

        counts = dict(
            Generation.objects.filter(
                status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING]
            )
            .values_list("status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        queued = GaugeMetricFamily("darkroom_jobs_queued", "Generations waiting for a worker.")
        queued.add_metric([], counts.get(Generation.Status.QUEUED, 0))
        running = GaugeMetricFamily(
            "darkroom_jobs_in_flight", "Generations a worker or an upstream is working on."
        )
        running.add_metric([], counts.get(Generation.Status.RUNNING, 0))
        return [queued, running]


def exposition() -> bytes:
    jobs = CollectorRegistry(auto_describe=False)
    jobs.register(JobsCollector())
    return generate_latest(process_registry()) + generate_latest(jobs)
