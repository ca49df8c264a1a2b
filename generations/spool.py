"""A paid result's bytes on local disk while the object store does not answer.

`generations.dispatch` stores a result the upstream was paid for, retrying with
backoff until the job's deadline; from the first failure on, the bytes are also
written here, so a job resumed on this host (its worker restarted) stores them
instead of calling the upstream again. Dropped once stored.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spooled:
    images: list[bytes]
    channel: str
    upstream_id: str


def _dir(generation_id: Any) -> Path:
    return Path(settings.DARKROOM_SPOOL_DIR) / str(generation_id)


def spool_write(generation_id: Any, result: Spooled) -> None:
    """Keep the result (best effort: a full disk only loses this safety net, logged)."""
    final = _dir(generation_id)
    if final.exists():
        return
    partial = final.with_name(f"{final.name}.partial")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for index, data in enumerate(result.images):
            (partial / f"{index}.bin").write_bytes(data)
        meta = {"channel": result.channel, "upstream_id": result.upstream_id}
        (partial / "meta.json").write_text(json.dumps(meta))
        partial.rename(final)  # whole or absent, never half a result
    except OSError:
        log.exception("generation %s: could not spool its result locally", generation_id)


def spool_read(generation_id: Any) -> Spooled | None:
    folder = _dir(generation_id)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        files = sorted(folder.glob("*.bin"), key=lambda p: int(p.stem))
        images = [p.read_bytes() for p in files]
    except (OSError, ValueError):
        return None
    return Spooled(images=images, channel=meta["channel"], upstream_id=meta["upstream_id"])


def spool_drop(generation_id: Any) -> None:
    shutil.rmtree(_dir(generation_id), ignore_errors=True)
