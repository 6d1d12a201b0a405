"""A realistic demo branch, loaded through the application service (so every rule holds).

One branch, 2 business departments, 6 sub-branches, 4 outlets each; about 300 staff with
the roles of DOMAIN.md; clients over the four tiers; a year of contacts at each tier's
cadence (with lapses), profile and asset reports, upgrades and downgrades, client managers
who leave and whose clients are reassigned (or still orphaned at the end), normal and
abnormal churns, a few clients won back. The same seed and end date give the same ledger.
The benchmarks reuse `plan_demo` and `load_demo`.

`organisation` plans the branch and its staff, `clients` one client's year, `loading`
the whole demo and its load; `names` holds the names they draw from.
"""

from ledger.demo.clients import LOCAL, TIERS, Step, plan_client
from ledger.demo.loading import (
    CAMPAIGN_SIZE,
    CLIENTS_PER_WRITE,
    RECORDED_BY,
    DemoStats,
    demo_window,
    load_demo,
    plan_demo,
)
from ledger.demo.organisation import Org, on_staff, plan_org

__all__ = [
    "CAMPAIGN_SIZE",
    "CLIENTS_PER_WRITE",
    "LOCAL",
    "RECORDED_BY",
    "TIERS",
    "DemoStats",
    "Org",
    "Step",
    "demo_window",
    "load_demo",
    "on_staff",
    "plan_client",
    "plan_demo",
    "plan_org",
]
