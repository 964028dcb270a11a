"""Shared benchmark helpers: this machine's Ed25519 verification rate, measured beside each run.

The machine is a shared VM whose speed drifts by ±20 % from one minute to the next, so every
timed run is bracketed: the single-core rate is measured just before and just after it, and
the run's ratio uses their mean. ``parallel_verify_rate`` is the same raw loop on every core at
once: what this machine can do at best when all cores are busy (it is often well under
cores × single-core, and the gap is the machine's, not ours).
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ed25519

T = TypeVar("T")


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


def parallel_verify_rate(workers: int, seconds: float = 1.5) -> float:
    """Verifications per second of ``workers`` processes running the raw loop at once."""
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(ed25519_verify_rate, [seconds] * workers))


def bracketed(run: Callable[[], T], seconds: float = 1.0) -> tuple[T, float]:
    """``run()`` and the mean single-core verify rate measured right before and after it."""
    before = ed25519_verify_rate(seconds)
    out = run()
    after = ed25519_verify_rate(seconds)
    return out, (before + after) / 2


def summary(ratios: list[float]) -> dict[str, Any]:
    """Median and range of repeated ratios."""
    return {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3),
            "max": round(max(ratios), 3), "runs": [round(r, 3) for r in ratios]}
