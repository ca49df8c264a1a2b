"""LOGGING for settings.py: plain text by default, one JSON object per line on request."""

from __future__ import annotations

from typing import Any

from common.ops.context import FIELDS

PLAIN = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(job_id)s] %(message)s"


def logging_config(*, fmt: str, level: str) -> dict[str, Any]:
    if fmt not in ("plain", "json"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DARKROOM_LOG_FORMAT must be plain or json.")
    formatters: dict[str, Any] = {
        "plain": {"format": PLAIN},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": " ".join(
                f"%({name})s" for name in ("asctime", "levelname", "name", "message", *FIELDS)
            ),
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "common.ops.context.ContextFilter"}},
        "formatters": formatters,
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }
