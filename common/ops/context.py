"""Who and what the current log line is about, carried in contextvars.

Web: the request middleware binds the request id; a generation created during the
request binds its job id, user and model. Worker: Celery's task headers carry the
request id across, the task binds the job. Every log record gets these fields
(`ContextFilter`), so one generation can be followed from web to worker.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

FIELDS = ("request_id", "job_id", "user_id", "model", "channel")
_vars: dict[str, ContextVar[str]] = {name: ContextVar(name, default="") for name in FIELDS}
# A caller's x-request-id is kept only if it is short and plain (it ends up in logs).
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def bind(**values: Any) -> None:
    for name, value in values.items():
        _vars[name].set("" if value is None else str(value))


def get(name: str) -> str:
    return _vars[name].get()


def clear() -> None:
    for var in _vars.values():
        var.set("")


@contextmanager
def scope(**values: Any) -> Iterator[None]:
    """Bind values for the block, then restore what was there."""
    tokens = [(_vars[k], _vars[k].set("" if v is None else str(v))) for k, v in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def accepted_request_id(value: str | None) -> str:
    """The caller's id when it is safe to log, else a fresh one."""
    if value and _SAFE_ID.match(value):
        return value
    return new_request_id()


class ContextFilter(logging.Filter):
    """Copies the bound context onto every record (both formatters read it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, _vars[name].get())
        return True
