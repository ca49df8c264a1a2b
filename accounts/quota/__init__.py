"""Quota: every image budget, how it is reserved, settled, rolled and edited.

- budget.py        the algebra all three budgets share (person x model, group pool,
                   API-key cap): `left`, `reserve` (one conditional UPDATE), `settle`, `roll`
- reservations.py  a job's reservation: `quota_hold` -> `Hold`, `quota_release`
- status.py        what a person has left: `QuotaStatus`, `quota_status`, `quota_overview`
- layers.py        where a limit and period come from (person, groups, catalog)
- pools.py         group pools; caps.py: per-key caps
- changes.py       audited edits by admins and the periodic reset
"""

from accounts.quota.reservations import (
    Hold,
    quota_hold,
    quota_release,
    quota_reserve,
    quota_set_limit,
    quota_settle,
)
from accounts.quota.status import QuotaStatus, quota_overview, quota_status, usage_for_user

__all__ = [
    "Hold",
    "QuotaStatus",
    "quota_hold",
    "quota_overview",
    "quota_release",
    "quota_reserve",
    "quota_set_limit",
    "quota_settle",
    "quota_status",
    "usage_for_user",
]
