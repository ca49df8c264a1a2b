"""What every layer may call for operations: the log context (contextvars), the
Prometheus counters, the drain flag of a stopping web process. The probes, /metrics,
signal receivers and Sentry sit on top, in config.ops."""
