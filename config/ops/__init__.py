"""The operators' side that sees the whole project: probes, the metrics page, signal
receivers that count and bind log context, Sentry. The pieces lower layers call
(log context, counters, the drain flag) live in common.ops."""
