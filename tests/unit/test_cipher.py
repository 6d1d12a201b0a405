"""The cipher under the personal data: sealed values, fresh nonces and keys, wrapped keys,
blind indexes (ledger.privacy.cipher, ledger.privacy.keys)."""

from __future__ import annotations

import hashlib
import hmac
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.privacy import MasterKey
from ledger.privacy.cipher import (
    KEY_SIZE,
    NONCE_SIZE,
    PREFIX,
    FreshBytes,
    KeyMismatch,
    blind_digest,
    is_sealed,
    new_key,
    open_sealed,
    seal,
)


def test_a_sealed_value_opens_only_in_its_place_under_its_key() -> None:
    aead = AESGCM(new_key())
    token = seal(aead, b"Li Lei", b"here")
    assert is_sealed(token) and "Li Lei" not in token
    assert open_sealed(aead, token, b"here") == b"Li Lei"
    with pytest.raises(KeyMismatch):
        open_sealed(aead, token, b"elsewhere")
    with pytest.raises(KeyMismatch):
        open_sealed(AESGCM(new_key()), token, b"here")


def test_a_sealed_value_opens_with_base64url_s_own_letters_and_not_when_mangled() -> None:
    aead = AESGCM(new_key())
    # A nonce whose base64url begins with `-` and `_`, the two letters standard base64 has not.
    token = seal(aead, "张伟".encode(), b"here", nonce=bytes.fromhex("fbfffffbff") + bytes(7))
    assert token.startswith(PREFIX + "-___-_")
    assert open_sealed(aead, token, b"here") == "张伟".encode()
    for mangled in (token[:-1], token[:-2] + "é" + token[-1]):
        with pytest.raises(ValueError):
            open_sealed(aead, mangled, b"here")


def test_every_value_gets_a_fresh_nonce() -> None:
    aead = AESGCM(new_key())
    assert seal(aead, b"same", b"aad") != seal(aead, b"same", b"aad")


@pytest.mark.parametrize(
    ("draws", "size"),
    [(FreshBytes(NONCE_SIZE), NONCE_SIZE), (FreshBytes(KEY_SIZE), KEY_SIZE)],
    ids=["nonces", "keys"],
)
def test_fresh_values_never_repeat_across_blocks_threads_or_a_fork(
    draws: FreshBytes, size: int
) -> None:
    taken = [draws.take() for _ in range(3 * FreshBytes.BLOCK // size)]
    with ThreadPoolExecutor(4) as pool:
        taken += pool.map(lambda _: draws.take(), range(2000))
    assert {len(value) for value in taken} == {size}
    assert len(set(taken)) == len(taken)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child's next value, then out without running anything else
        os.write(write, draws.take())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    from_child = os.read(read, size)
    os.close(read)
    assert len(from_child) == size
    assert from_child != draws.take()


def test_a_new_key_is_a_fresh_aes_256_key() -> None:
    keys = [new_key() for _ in range(500)]
    assert {len(key) for key in keys} == {KEY_SIZE} and len(set(keys)) == len(keys)
    aead = AESGCM(keys[0])
    assert open_sealed(aead, seal(aead, b"text", b"aad"), b"aad") == b"text"


def test_a_wrapped_key_unwraps_only_for_its_subject_and_master() -> None:
    master, key = MasterKey(new_key()), new_key()
    wrapped = master.wrap(key, "subject-1")
    assert master.unwrap(wrapped, "subject-1") == key
    with pytest.raises(KeyMismatch):
        master.unwrap(wrapped, "subject-2")
    with pytest.raises(KeyMismatch):
        MasterKey(new_key()).unwrap(wrapped, "subject-1")


@pytest.mark.parametrize("key_size", [16, 32, 64, 65])
def test_a_blind_index_is_the_hmac_sha256_it_always_was(key_size: int) -> None:
    key = os.urandom(key_size)
    for kind, term in (("name", "wang fang"), ("phone", "13912345678"), ("name", "王 芳")):
        expected = hmac.new(key, f"{kind}\x00{term}".encode(), hashlib.sha256).digest()
        assert blind_digest(key, kind, term) == expected
