"""PostgreSQL: the library's recorders, with a look-up of events' global positions."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from psycopg.sql import SQL, Identifier


class LedgerPostgresApplicationRecorder(PostgresApplicationRecorder):
    def event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Global position of each stored event of one aggregate, by version."""
        statement = SQL(
            "SELECT originator_version, notification_id FROM {schema}.{table} "
            "WHERE originator_id = %s"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (originator_id,))
            return {row["originator_version"]: row["notification_id"] for row in curs.fetchall()}


class LedgerPostgresFactory(PostgresFactory):
    application_recorder_class = LedgerPostgresApplicationRecorder
