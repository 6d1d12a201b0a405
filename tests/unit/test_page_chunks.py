"""How many candidates a maintenance page reads after its first chunk (issue 16's leader
visits: a page of 100 read 303 candidates and their contacts where 113 do)."""

from ledger.projections.kit.text import CHUNK
from ledger.projections.maintenance_files import _next_chunk


def test_the_next_chunk_asks_for_what_the_page_still_wants_at_the_rate_seen() -> None:
    # 100 wanted, 101 candidates gave 89 items: 11 more at 89/101, a quarter more.
    assert _next_chunk(101, 11, 89, 101) == 16
    assert _next_chunk(101, 50, 50, 101) == 127


def test_a_chunk_that_gave_nothing_doubles_and_no_chunk_passes_the_bound() -> None:
    assert _next_chunk(101, 100, 0, 101) == 202
    assert _next_chunk(CHUNK, 100, 0, 4 * CHUNK) == CHUNK
    assert _next_chunk(101, 1000, 1, 10_000) == CHUNK
