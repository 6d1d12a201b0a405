"""API keys: issued with a salted hash only, found by the key id in the token, revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.application import Ledger, access
from ledger.bootstrap import build
from ledger.config import Settings
from ledger.domain import InvalidInput, NotFound
from ledger.domain.api_key import ApiKey, hash_secret, is_legacy_hash, legacy_hash_secret
from support.api_world import SettableClock


@pytest.fixture
def ledger() -> Ledger:
    container = build(Settings(database_url="memory://"))
    yield container.ledger
    container.close()


def test_a_token_authenticates_its_key_until_revoked(ledger: Ledger) -> None:
    result, token = ledger.issue_api_key(
        role="auditor", staff_id=None, label="audit", recorded_by="admin"
    )
    key = ledger.authenticate(token)
    assert key is not None
    assert (key.key_id, key.role) == (result.id, "auditor")
    ledger.revoke_api_key(key_id=result.id, recorded_by="admin")
    assert ledger.authenticate(token) is None


def test_a_wrong_secret_or_unknown_key_authenticates_nothing(ledger: Ledger) -> None:
    _, token = ledger.issue_api_key(role="auditor", staff_id=None, label="a", recorded_by="x")
    assert ledger.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert ledger.authenticate(f"kunknown.{token.split('.')[1]}") is None
    assert ledger.authenticate("no-dot") is None
    assert ledger.authenticate("../../etc.passwd") is None


def test_only_a_salted_hash_is_stored(ledger: Ledger) -> None:
    result, token = ledger.issue_api_key(role="auditor", staff_id=None, label="a", recorded_by="x")
    secret = token.split(".", 1)[1]
    key = ledger.repository.get(ApiKey.id_for(result.id))
    assert key.secret_hash == hash_secret(secret, key.salt)
    assert secret not in repr(vars(key))
    _, other = ledger.issue_api_key(role="auditor", staff_id=None, label="b", recorded_by="x")
    assert ledger.repository.get(ApiKey.id_for(other.split(".")[0])).salt != key.salt


def test_a_manager_key_needs_a_known_staff_member(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput) as missing:
        ledger.issue_api_key(role="manager", staff_id=None, label="m", recorded_by="x")
    assert missing.value.field == "staff_id"
    with pytest.raises(NotFound):
        ledger.issue_api_key(role="manager", staff_id="ghost", label="m", recorded_by="x")


def test_a_key_is_recorded_at_the_ledgers_clock() -> None:
    at = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
    container = build(Settings(database_url="memory://"), clock=lambda: at)
    try:
        result, _ = container.ledger.issue_api_key(
            role="auditor", staff_id=None, label="a", recorded_by="x"
        )
        assert result.recorded_at == at
        assert container.ledger.repository.get(ApiKey.id_for(result.id)).created_on == at
    finally:
        container.close()


# ---- API 1.1: keyed SHA-256, one cost for every key id, legacy scrypt keys ------------------


def test_the_secret_is_a_keyed_sha256_and_an_unknown_key_id_costs_the_same(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = ledger.issue_api_key(role="auditor", staff_id=None, label="a", recorded_by="x")
    secret = token.split(".", 1)[1]
    hashed: list[str] = []
    slow: list[str] = []
    monkeypatch.setattr(
        access, "hash_secret", lambda s, salt: hashed.append(s) or hash_secret(s, salt)
    )
    monkeypatch.setattr(access, "legacy_hash_secret", lambda s, salt: slow.append(s) or "")
    assert ledger.authenticate(token) is not None
    assert ledger.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert ledger.authenticate(f"kunknown00000000.{secret}") is None
    # One HMAC each, known key id or not; scrypt never.
    assert len(hashed) == 3 and slow == []


def test_a_key_issued_with_a_scrypt_hash_still_works_and_is_rehashed(ledger: Ledger) -> None:
    salt, secret = "00" * 16, "s3cret-of-an-old-key"
    key = ApiKey.issue(
        key_id="klegacy0000000001",
        role="auditor",
        staff_id=None,
        label="old",
        salt=salt,
        secret_hash=legacy_hash_secret(secret, salt),
        recorded_by="admin",
        effective_at=datetime.now(UTC),
    )
    ledger.save(key)
    assert ledger.authenticate(f"klegacy0000000001.{secret}") is not None
    rehashed = ledger.repository.get(ApiKey.id_for("klegacy0000000001"))
    assert not is_legacy_hash(rehashed.secret_hash)
    assert rehashed.secret_hash == hash_secret(secret, rehashed.salt)
    assert ledger.authenticate(f"klegacy0000000001.{secret}") is not None
    assert ledger.authenticate("klegacy0000000001.wrong") is None


def test_an_expired_key_authenticates_nothing() -> None:
    clock = SettableClock(datetime(2026, 1, 1, tzinfo=UTC))
    container = build(Settings(database_url="memory://"), clock=clock)
    ledger = container.ledger
    _, token = ledger.issue_api_key(
        role="auditor",
        staff_id=None,
        label="a",
        recorded_by="x",
        expires_at=clock.now + timedelta(hours=1),
    )
    assert ledger.authenticate(token) is not None
    clock.now += timedelta(hours=1)
    assert ledger.authenticate(token) is None
    with pytest.raises(InvalidInput) as past:
        ledger.issue_api_key(
            role="auditor", staff_id=None, label="a", recorded_by="x", expires_at=clock.now
        )
    assert past.value.field == "expires_at"
    container.close()
