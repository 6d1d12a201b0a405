"""The read models: every answer of API.md's "Projections" table, rebuilt from the events.

- `roster`: tier, status and designated-manager intervals per client, and the unit tree.
- `accountability`: team-role intervals, unit heads, churn cases and determinations.
- `reports`: tier growth, key-information completeness, overdue contacts, orphaned
  clients and manager portfolios.

Each is an `eventsourcing.projection.Projection` whose view is a `TrackingRecorder`
(SQLite or PostgreSQL) that writes its tracking position in the same transaction as its
rows. `runner.Projections` (built by `Container.start_projections()`) runs them and is
what the API calls: its query methods return plain dicts with API.md's field names, and
`wait(position)` lets a reader see its own write.
"""
