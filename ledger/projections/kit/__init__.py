"""What the read models are made of: the batch engine (`engine`), its SQLite and PostgreSQL
backends (`backends`), and the parts a read model composes (`units`, `intervals`,
`tier_counts`, `staff`, `heads`), with the pure folds (`timeline`) and the stored text of
times and ids (`text`)."""

from ledger.projections.kit.backends import PostgresBackend, SQLiteBackend, view_class
from ledger.projections.kit.engine import BatchView, Handler, Part
from ledger.projections.kit.heads import UnitHeads
from ledger.projections.kit.intervals import ClientIntervals
from ledger.projections.kit.projection import ViewProjection
from ledger.projections.kit.staff import StaffTable
from ledger.projections.kit.text import (
    CHUNK,
    aggregate_key,
    chunks,
    from_utc_text,
    placeholders,
    topics_of,
    utc_text,
)
from ledger.projections.kit.tier_counts import ActiveTierCounts
from ledger.projections.kit.units import UnitTree

__all__ = [
    "CHUNK",
    "ActiveTierCounts",
    "BatchView",
    "ClientIntervals",
    "Handler",
    "Part",
    "PostgresBackend",
    "SQLiteBackend",
    "StaffTable",
    "UnitHeads",
    "UnitTree",
    "ViewProjection",
    "aggregate_key",
    "chunks",
    "from_utc_text",
    "placeholders",
    "topics_of",
    "utc_text",
    "view_class",
]
