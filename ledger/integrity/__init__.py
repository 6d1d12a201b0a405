"""Tamper evidence: the hash chain and the Merkle tree over the log, their digest,
verification, proofs and bundles."""

from ledger.integrity.append import Backfilled, UnlinkedLog
from ledger.integrity.bundle import (
    BundleError,
    ProofCheck,
    verify_bundle,
    write_bundle,
)
from ledger.integrity.chain import GENESIS, ChainEvent, Digest, Verification, canonical_bytes
from ledger.integrity.merkle import ConsistencyProof, InclusionProof
from ledger.integrity.service import Integrity

__all__ = [
    "GENESIS",
    "Backfilled",
    "BundleError",
    "ChainEvent",
    "ConsistencyProof",
    "Digest",
    "InclusionProof",
    "Integrity",
    "ProofCheck",
    "UnlinkedLog",
    "Verification",
    "canonical_bytes",
    "verify_bundle",
    "write_bundle",
]
