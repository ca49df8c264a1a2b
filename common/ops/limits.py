"""Process limits a server raises for itself at start.

A process holding 1,000 waiting requests (the web) or 1,000 upstream calls in flight
(the worker) needs a descriptor per connection, plus its database pool, Redis and
files: past the common default soft limit of 1024 it would fail to accept or connect
with EMFILE. The soft limit may be raised by the process itself up to the hard limit
(often 4096 to 1,048,576), so the web and the worker do that when they start; past the
hard limit only the operator can help (`ulimit -Hn`, compose's `ulimits`, systemd's
`LimitNOFILE`).
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

# Enough for thousands of connections; no need to take a 2^20 hard limit whole.
WANTED_OPEN_FILES = 65536
# Below this, say so at start: a few thousand connections at once would not fit.
WARN_BELOW = 4096


def raise_open_file_limit(wanted: int = WANTED_OPEN_FILES) -> int:
    """Raise the soft limit on open descriptors toward `wanted` (never above the hard
    limit, never lowered); the soft limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:  # a sandbox may refuse; run with what we have
            log.warning("could not raise the open-file limit from %s: %s", soft, exc)
            return soft
        soft = target
    if soft != resource.RLIM_INFINITY and soft < min(wanted, WARN_BELOW):
        log.warning(
            "open-file limit %s (hard %s): this process can hold about that many connections",
            soft,
            hard,
        )
    return soft
