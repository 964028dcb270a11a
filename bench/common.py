"""Shared benchmark helpers: this machine's single-core Ed25519 verification rate."""

from __future__ import annotations

import hashlib
import time

from cryptography.hazmat.primitives.asymmetric import ed25519


def ed25519_verify_rate(seconds: float = 1.5) -> float:
    """Ed25519 verifications per second on one core with `cryptography` (32-byte messages)."""
    key = ed25519.Ed25519PrivateKey.generate()
    pub, msg = key.public_key(), hashlib.sha256(b"m").digest()
    sig = key.sign(msg)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            pub.verify(sig, msg)
        n += 200
    return n / (time.perf_counter() - start)
