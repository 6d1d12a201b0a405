"""A projection made of its view's parts: each part handles the events of the facts it
keeps, and the projection dispatches to them by event class."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from ledger.projections.kit.engine import BatchView, Handler
from ledger.projections.kit.text import topics_of


class ViewProjection(Projection[BatchView]):
    """`name` names the read model; its topics are those of its parts' handlers."""

    def __init__(self, view: BatchView) -> None:
        super().__init__(view=view)
        self.handlers = view.handlers()
        self.topics = topics_of(*self.handlers)

    def handler_for(self, event_class: type) -> Handler:
        """The handler of `event_class`'s events; one the view has no use for only moves
        its position."""
        return self.handlers.get(event_class, self.view.track_past)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        self.handler_for(type(domain_event))(domain_event, tracking)
