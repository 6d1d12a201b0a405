"""The maintenance reports' organisation (staff and heads) is kept between pages while the
view stays at its positions, and read again once it moves (ledger/projections/
maintenance_organisation.py)."""

from datetime import UTC, datetime, timedelta

from ledger.bootstrap import Container
from support.projection_scenarios import BY, build_org

SINCE = datetime.now(UTC) - timedelta(days=400)


def test_kept_while_the_view_stays_and_read_again_once_it_moves(container: Container) -> None:
    app = container.ledger
    build_org(app, SINCE)
    runner = container.start_projections(follow=False)
    runner.catch_up()
    kept = container.views.maintenance.files.organisation  # type: ignore[attr-defined]
    first = kept.at()
    assert first.departed["M2"] is None and first.roles["H1"] == "outlet_director"
    assert kept.at() is first

    before = app.position
    app.depart_staff(staff_id="M2", reason="left", effective_at=SINCE, recorded_by=BY)
    assert kept.at() is first  # the view has not taken the event yet
    runner.catch_up()
    moved = kept.at()
    assert moved is not first and moved.departed["M2"] is not None
    assert moved.heads == first.heads
    # As known at a past position: read anew, as it was then.
    assert kept.at(upto=before).departed["M2"] is None
