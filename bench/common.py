"""Shared benchmark helpers: this machine's Ed25519 verification rate, measured beside each run.

The machine is a shared VM whose speed drifts by ±20 % from one minute to the next, so every
timed run is bracketed: the single-core rate is measured just before and just after it, and
the run's ratio uses their mean. Two rates are measured: ``cryptography``'s (OpenSSL), the
yardstick the targets are set against, and libsodium's (PyNaCl), the library admission
actually checks signatures with (tlog/ed25519.py), about twice as fast here: a ratio
against it says how close the pipeline comes to its own verifier. ``parallel_verify_rate`` is
the same raw loop on every core at once: what this machine can do at best when all cores are
busy (it is often well under cores × single-core, and the gap is the machine's, not ours).
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any, NamedTuple, TypeVar

from cryptography.hazmat.primitives.asymmetric import ed25519

T = TypeVar("T")


def ed25519_verify_rate(seconds: float = 1.5, library: str = "cryptography") -> float:
    """Ed25519 verifications per second on one core (32-byte messages) with ``library``:
    "cryptography" (OpenSSL) or "libsodium" (PyNaCl)."""
    key = ed25519.Ed25519PrivateKey.generate()
    pub, msg = key.public_key(), hashlib.sha256(b"m").digest()
    sig = key.sign(msg)
    check: Callable[[], object] = partial(pub.verify, sig, msg)
    if library == "libsodium":
        from nacl.bindings import crypto_sign_open

        check = partial(crypto_sign_open, sig + msg, pub.public_bytes_raw())
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            check()
        n += 200
    return n / (time.perf_counter() - start)


def ed25519ph_verify_rate(seconds: float = 1.5) -> float:
    """libsodium's own Ed25519ph verifications per second on one core (32-byte messages,
    hashed by libsodium as its API requires): the limit for the log's Ed25519ph path."""
    from nacl import bindings

    public, secret = bindings.crypto_sign_seed_keypair(hashlib.sha256(b"ph").digest())
    msg = hashlib.sha256(b"m").digest()

    def state() -> Any:
        st = bindings.crypto_sign_ed25519ph_state()
        bindings.crypto_sign_ed25519ph_update(st, msg)
        return st

    sig = bindings.crypto_sign_ed25519ph_final_create(state(), secret)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            bindings.crypto_sign_ed25519ph_final_verify(state(), sig, public)
        n += 200
    return n / (time.perf_counter() - start)


def pkix_verify_rate(algo: str) -> Callable[[float], float]:
    """``cryptography``'s verify rate on one core for ``algo`` over a SHA-256 prehash, as
    admission checks a hashedrekord digest."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
    from signers import signer

    s = signer(algo)
    digest = hashlib.sha256(b"m").digest()
    pub = s.key.public_key()  # type: ignore[attr-defined]
    pre = utils.Prehashed(hashes.SHA256())
    if algo.startswith("ecdsa"):
        sig = s.key.sign(digest, ec.ECDSA(pre))  # type: ignore[attr-defined]

        def check() -> None:
            pub.verify(sig, digest, ec.ECDSA(pre))
    else:
        pad = (padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
               if "pss" in algo else padding.PKCS1v15())
        sig = s.key.sign(digest, pad, pre)  # type: ignore[attr-defined]

        def check() -> None:
            pub.verify(sig, digest, pad, pre)

    def rate(seconds: float) -> float:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(50):
                check()
            n += 50
        return n / (time.perf_counter() - start)

    return rate


def bracketed_by(run: Callable[[], T], rate: Callable[[float], float],
                 seconds: float = 1.0) -> tuple[T, float]:
    """``run()`` and the mean of ``rate(seconds)`` measured right before and after it."""
    before = rate(seconds)
    out = run()
    return out, (before + rate(seconds)) / 2


def parallel_verify_rate(workers: int, seconds: float = 1.5) -> float:
    """Verifications per second of ``workers`` processes running the raw loop at once."""
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(ed25519_verify_rate, [seconds] * workers))


class Baseline(NamedTuple):
    """Single-core Ed25519 verify/s around a run, by library."""

    cryptography: float
    libsodium: float


def bracketed(run: Callable[[], T], seconds: float = 1.0) -> tuple[T, Baseline]:
    """``run()`` and the mean single-core verify rates measured right before and after it."""
    before = Baseline(ed25519_verify_rate(seconds), ed25519_verify_rate(seconds / 2, "libsodium"))
    out = run()
    after = Baseline(ed25519_verify_rate(seconds), ed25519_verify_rate(seconds / 2, "libsodium"))
    return out, Baseline(*((a + b) / 2 for a, b in zip(before, after, strict=True)))


def quantiles(xs: list[float]) -> dict[str, float]:
    """A latency distribution: count, median, p90, p99 and max (seconds, 3 decimals)."""
    xs = sorted(xs)

    def q(p: float) -> float:
        return round(xs[min(len(xs) - 1, int(p * len(xs)))], 3)

    return {"n": len(xs), "p50": round(statistics.median(xs), 3), "p90": q(0.9),
            "p99": q(0.99), "max": round(xs[-1], 3)}


def summary(ratios: list[float]) -> dict[str, Any]:
    """Median and range of repeated ratios."""
    return {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3),
            "max": round(max(ratios), 3), "runs": [round(r, 3) for r in ratios]}
