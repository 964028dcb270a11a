"""Pure Ed25519 verification: libsodium's speed, OpenSSL's verdict (admission, note
signatures, the witness); and signing, by libsodium where it is installed.

Checking signatures is nearly all of admission's and the witness's work, and libsodium (through
PyNaCl) checks an Ed25519 signature in about half the time OpenSSL (through ``cryptography``)
takes on the same machine. Both compute the same cofactorless equation and compare encodings of
R; libsodium also refuses small-order and non-canonically encoded points, which OpenSSL accepts.
So what libsodium accepts, OpenSSL accepts too, and a refusal is asked of OpenSSL again: the
verdict is always OpenSSL's (the one every client re-checking an entry with ``cryptography``
reaches), only sooner. Without PyNaCl, OpenSSL alone decides.

Ed25519 signatures are deterministic (RFC 8032): libsodium and OpenSSL make the same bytes for
the same key and message, libsodium in about two thirds of the time (a witness signs once per
request).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature

__all__ = ["FAST", "signer", "verify"]

try:
    from nacl.bindings import crypto_sign as _sign
    from nacl.bindings import crypto_sign_open as _open
    from nacl.bindings import crypto_sign_seed_keypair as _keypair
    from nacl.exceptions import BadSignatureError as _Bad
    from nacl.exceptions import CryptoError as _CryptoError

    FAST = True
except ImportError:  # PyNaCl is a dependency, but a trimmed install may lack it
    FAST = False


def verify(key: Any, raw: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` (64 bytes) verifies over ``message`` with the Ed25519 key
    ``key`` (a ``cryptography`` public key) whose 32 raw bytes are ``raw``."""
    if FAST and len(signature) == 64 and len(raw) == 32:
        try:
            _open(signature + message, raw)
            return True
        except (_Bad, _CryptoError, ValueError):
            pass  # refused by libsodium: OpenSSL decides (it may accept a small-order key)
    try:
        key.verify(signature, message)
        return True
    except InvalidSignature:
        return False


def signer(seed: bytes) -> Callable[[bytes], bytes]:
    """A function signing messages with the Ed25519 key whose 32-byte seed is ``seed``; it
    returns the 64-byte signature."""
    if FAST:
        secret = _keypair(seed)[1]
        return lambda message: _sign(message, secret)[:64]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed).sign
