"""AES-GCM, field by field: a personal value sealed under its subject's key, and subject
keys wrapped under the master key.

A sealed value is text, so it sits in the event's JSON where the plain value was:
`pd1:` + base64url(nonce (12 bytes) || ciphertext || tag). The associated data names the
field (topic, subject, version, path), so a sealed value copied into another event or
field does not open there. The first plaintext byte says how to read the rest: `s` UTF-8
text, `j` the transcoder's bytes, `z` the transcoder's bytes compressed with zlib (a
snapshot's whole state; one sealed before is `j`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import unicodedata
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "pd1:"
NONCE_SIZE = 12
KEY_SIZE = 32
ERASED = "[erased]"
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


class KeyMismatch(ValueError):
    """A sealed value or wrapped key that this key does not open (wrong key, or changed)."""


class MasterKeyError(ValueError):
    """A master key the ledger cannot start with (not a key, or not the store's). Its
    message names where the key came from, never the key."""


class FreshBytes:
    """Fresh random values of `size` bytes, drawn from the operating system's generator a
    block at a time: a system call per value cost 0.4 to 2 µs, up to a twentieth of an
    imported event's CPU for the nonces and as much again for the client keys. Each value
    is bytes of the block no other value had; a forked child starts with a block of its
    own (a block shared with its parent would repeat values)."""

    BLOCK = 4096

    def __init__(self, size: int) -> None:
        self.size = size
        self._restart()
        os.register_at_fork(after_in_child=self._restart)

    def _restart(self) -> None:
        self._lock = threading.Lock()
        self._block, self._at = b"", 0

    def take(self) -> bytes:
        with self._lock:  # a value handed out twice is a repeated GCM nonce or a shared key
            if self._at + self.size > len(self._block):
                self._block, self._at = os.urandom(self.BLOCK), 0
            start = self._at
            self._at = start + self.size
            return self._block[start : self._at]


new_key = FreshBytes(KEY_SIZE).take  # an AES-256 key, as AESGCM.generate_key(256) makes
fresh_nonce = FreshBytes(NONCE_SIZE).take  # public: stored beside its ciphertext


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(aead: AESGCM, plaintext: bytes, associated: bytes, nonce: bytes | None = None) -> str:
    """A fresh nonce per value: GCM with a repeated nonce under one key leaks both. (A
    nonce derived from the value itself, `synthetic_nonce`, repeats only with the value.)"""
    nonce = nonce or fresh_nonce()
    sealed = nonce + aead.encrypt(nonce, plaintext, associated)
    return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")


def synthetic_nonce(secret: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """A nonce that is the same only for the same value in the same place (SIV): a read
    model rebuilt seals a name to the same bytes, and two names never share a nonce."""
    mac = hmac.new(secret, associated + b"\x00" + plaintext, hashlib.sha256)
    return mac.digest()[:NONCE_SIZE]


def open_sealed(aead: AESGCM, token: str, associated: bytes) -> bytes:
    # `base64.urlsafe_b64decode`, without its two checks of the argument in Python (1.15
    # against 0.35 µs; a long client's history opens two values a contact). Not ASCII: a
    # `UnicodeEncodeError`, a `ValueError` as the library's is.
    raw = binascii.a2b_base64(token.encode("ascii").translate(_FROM_URLSAFE)[len(PREFIX) :])
    try:
        return aead.decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:], associated)
    except InvalidTag:
        raise KeyMismatch("a sealed value does not open under its subject's key") from None


class MasterKey:
    """The key that wraps every subject's key; also the root of the blind-index key."""

    def __init__(self, secret: bytes, source: str = "") -> None:
        if len(secret) != KEY_SIZE:
            raise MasterKeyError(f"{_named(source)} must be {KEY_SIZE} bytes")
        self._aead = AESGCM(secret)
        # Names the key in the key table, so rows wrapped under another key are found.
        self.key_id = hashlib.sha256(b"ledger master key id" + secret).hexdigest()[:16]

    @classmethod
    def from_text(cls, text: str, source: str = "") -> MasterKey:
        """`source` (where the text came from) names the key in an error."""
        try:
            secret = base64.urlsafe_b64decode(text.strip() + "==")
        except ValueError:
            raise MasterKeyError(f"{_named(source)} must be base64 of 32 bytes") from None
        return cls(secret, source)

    @staticmethod
    def generate_text() -> str:
        return base64.urlsafe_b64encode(new_key()).decode("ascii")

    def wrap(self, key: bytes, subject: str) -> bytes:
        nonce = fresh_nonce()
        return nonce + self._aead.encrypt(nonce, key, subject.encode())

    def unwrap(self, wrapped: bytes, subject: str) -> bytes:
        try:
            return self._aead.decrypt(
                bytes(wrapped[:NONCE_SIZE]), bytes(wrapped[NONCE_SIZE:]), subject.encode()
            )
        except InvalidTag:
            raise KeyMismatch(f"the key of {subject} was not wrapped by this master key") from None


def _named(source: str) -> str:
    return f"the master key from {source}" if source else "the master key"


def normalise(kind: str, value: str) -> str:
    """What a lookup and the stored value agree on: a phone by its digits, a name by its
    case-folded words."""
    text = unicodedata.normalize("NFKC", value)
    if kind == "phone":
        # Most phones are digits only: the same text without a look at each character.
        return text if text.isdigit() else "".join(ch for ch in text if ch.isdigit())
    return " ".join(text.casefold().split())


def blind_terms(kind: str, value: str) -> list[str]:
    """The normalised forms a value is found by: a phone whole; a name whole and by word."""
    whole = normalise(kind, value)
    if not whole:
        return []
    if kind == "phone":
        return [whole]
    words = whole.split(" ")
    return [whole, *(word for word in words if len(words) > 1)]


def blind_digest(index_key: bytes, kind: str, term: str) -> bytes:
    """HMAC-SHA-256 (RFC 2104) of the term under the index key."""
    inner, outer = _hmac_pads(index_key)
    mac = inner.copy()
    mac.update(f"{kind}\x00{term}".encode())
    digest = outer.copy()
    digest.update(mac.digest())
    return digest.digest()


@lru_cache(maxsize=4)
def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """The two SHA-256 states HMAC starts from, made once per key: `hmac.new` makes them
    for every digest (3.2 against 1.6 µs; four digests a client imported), and copying
    an OpenSSL HMAC context costs more than that."""
    block = (
        key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    )
    return (
        hashlib.sha256(bytes(byte ^ 0x36 for byte in block)),
        hashlib.sha256(bytes(byte ^ 0x5C for byte in block)),
    )
