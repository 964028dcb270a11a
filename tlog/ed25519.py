"""Pure Ed25519 verification: libsodium's speed, OpenSSL's verdict (admission, note
signatures, the witness).

Checking signatures is nearly all of admission's and the witness's work, and libsodium (through
PyNaCl) checks an Ed25519 signature in about half the time OpenSSL (through ``cryptography``)
takes on the same machine. Both compute the same cofactorless equation and compare encodings of
R; libsodium also refuses small-order and non-canonically encoded points, which OpenSSL accepts.
So what libsodium accepts, OpenSSL accepts too, and a refusal is asked of OpenSSL again: the
verdict is always OpenSSL's (the one every client re-checking an entry with ``cryptography``
reaches), only sooner. Without PyNaCl, OpenSSL alone decides.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature

__all__ = ["FAST", "verify"]

try:
    from nacl.bindings import crypto_sign_open as _open
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
