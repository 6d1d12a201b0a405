"""Helpers shared by the three rings of tests (and the benchmarks): stores, clocks, an
organisation to post against, served processes, a browser, an independent RFC 9162
verifier. Nothing here is a test."""

# The read models the ledger keeps, in the order bootstrap.PROJECTIONS lists them.
READ_MODELS = ["roster", "accountability", "reports", "audit", "maintenance"]
