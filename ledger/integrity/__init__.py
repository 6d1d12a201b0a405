"""Tamper evidence: the hash chain over the log, its digest, verification and bundles."""

from ledger.integrity.bundle import BundleError, read_bundle, verify_bundle, write_bundle
from ledger.integrity.chain import GENESIS, ChainEvent, Digest, Verification, canonical_bytes
from ledger.integrity.service import Integrity

__all__ = [
    "GENESIS",
    "BundleError",
    "ChainEvent",
    "Digest",
    "Integrity",
    "Verification",
    "canonical_bytes",
    "read_bundle",
    "verify_bundle",
    "write_bundle",
]
