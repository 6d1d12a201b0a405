"""The hash chain and the Merkle tree: digests, their check, verification and proofs."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from ledger.api.schemas.types import Body, Moment


class DigestPublic(BaseModel):
    position: int = Field(description="the latest position of the log (0 when empty)")
    hash: str = Field(description="the chain hash at that position, 64 hex digits")
    recorded_at: AwareDatetime | None
    tree_size: int = Field(description="leaves of the Merkle tree: the events up to position")
    root_hash: str = Field(description="RFC 9162 Merkle tree hash of those leaves, 64 hex digits")


class DigestCheck(Body):
    position: int = Field(ge=0, le=2**62, strict=True)
    hash: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="64 hex digits")
    # A digest kept from GET /v1/integrity/digest is sent back as it was; its time is
    # informational and plays no part in the check.
    recorded_at: Moment | None = None
    # Its tree head, when given, is checked too: the tree recomputed from the events.
    tree_size: int | None = Field(default=None, ge=0, le=2**62, strict=True)
    root_hash: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class VerificationPublic(BaseModel):
    ok: bool
    checked: int = Field(description="events that hashed correctly before the first mismatch")
    first_mismatch: int | None


class InclusionProofPublic(BaseModel):
    position: int
    leaf_index: int = Field(description="the event's place among the log's events, from 0")
    tree_size: int
    root_hash: str
    leaf_hash: str = Field(description="SHA-256(0x00 || the event's canonical bytes)")
    audit_path: list[str] = Field(description="RFC 9162 2.1.3 inclusion proof, leaf upward")


class ConsistencyProofPublic(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str] = Field(description="RFC 9162 2.1.4 consistency proof")
