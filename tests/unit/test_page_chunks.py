"""How many candidates a maintenance page reads after its first chunk (issue 16's leader
visits: a page of 100 read 303 candidates and their contacts where 113 do)."""

from ledger.projections.kit.text import CHUNK, next_chunk


def test_the_next_chunk_asks_for_what_the_page_still_wants_at_the_last_chunks_rate() -> None:
    # 101 candidates gave 89 items: 11 more at that rate, a quarter more, at least 16.
    assert next_chunk(101, 89, 11) == 16
    assert next_chunk(101, 50, 50) == 127


def test_chunks_double_while_they_give_nothing_and_never_pass_the_bound() -> None:
    # The items thin out: a page of 99 items after its first chunk then finds none for
    # long (the review's case: 64 queries when the rate was counted over every chunk).
    sizes, size = [], next_chunk(101, 99, 1)
    for _ in range(5):
        sizes.append(size)
        size = next_chunk(size, 0, 1)
    assert sizes == [16, 32, 64, 128, 256]
    assert next_chunk(CHUNK, 0, 100) == CHUNK
    assert next_chunk(101, 1, 1000) == CHUNK
