from __future__ import annotations

from common.ops import context, metrics


def observe_upstream(outcome: str, seconds: float) -> None:
    """One upstream HTTP call, labelled with the channel bound when its adapter was made."""
    channel = context.get("channel") or "unknown"
    metrics.UPSTREAM_SECONDS.labels(channel=channel, outcome=outcome).observe(seconds)
