"""A client's history as the model wrote it, from its events read afresh: what the ledger's
answer is compared with byte for byte (it is written without a model per event)."""

from __future__ import annotations

from typing import Any

from ledger.api.schemas import ClientHistoryPublic, HistoryEventPublic
from ledger.application.history import event_data
from ledger.domain import Client


def model_bytes(ledger: Any, client_id: str, after: int, limit: int | None) -> bytes:
    """The answer as its model wrote it (FastAPI writes a model's JSON), from the client's
    events read afresh: each one's data read by attribute (`event_data`), what retracted
    it from every event; the events after version `after`, `limit` of them if given."""
    client_uuid = Client.id_for(client_id)
    events = list(ledger.events.get(client_uuid))
    positions = ledger.recorder.event_positions(client_uuid)
    retracted = {
        e.retracted_event_id: e.event_id for e in events if isinstance(e, Client.EventRetracted)
    }
    upto = len(events) if limit is None else min(after + limit, len(events))
    answer = ClientHistoryPublic(
        client_id=client_id,
        events=[
            HistoryEventPublic(
                event_id=e.event_id,
                type=type(e).__name__,
                version=e.originator_version,
                position=positions[e.originator_version],
                occurred_at=e.effective_at,
                recorded_at=e.timestamp,
                recorded_by=e.recorded_by,
                data=event_data(e),
                retracted_by=retracted.get(e.event_id),
            )
            for e in events[after:upto]
        ],
        next_cursor=str(upto) if limit is not None and upto < len(events) else None,
    )
    return answer.model_dump_json().encode()
