"""The read models: every answer of API.md's "Projections" table, rebuilt from the events.

- `roster`: tier, status and designated-manager intervals per client, the unit tree and
  the tier counts (the roster, its summary, and tier growth).
- `accountability`: team-role intervals, unit heads, churn cases and determinations.
- `reports`: key-information completeness, overdue contacts, orphaned clients and manager
  portfolios.

Each module holds the read model's interface (the queries the API reads), its SQL view
composed of the parts in `kit`, and its projection. `runner.ProjectionRunner` runs them;
`ledger.bootstrap` builds the views (`container.views`) and the runner
(`container.runner`).
"""
