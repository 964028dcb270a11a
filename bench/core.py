"""Leaf-integration throughput next to this machine's raw SHA-256 rate (issue: ratio ≥ 0.35).

Integrating a leaf costs about one node hash (255 per full tile, plus 1/256 of that above) plus
tile bookkeeping, so the ratio leaves/s ÷ sha256(64 B)/s measures the bookkeeping overhead.

    .venv/bin/python bench/core.py --leaves 1000000 [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

from tlog.integrate import edge_tiles, integrate


def sha256_rate(seconds: float = 1.0) -> float:
    """SHA-256 digests of 64-byte inputs per second, in a Python loop (one core)."""
    data = os.urandom(64)
    sha = hashlib.sha256
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(10000):
            sha(data).digest()
        n += 10000
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def integrate_rate(leaves: list[bytes], batch: int) -> float:
    store: dict = {}
    size, start = 0, time.perf_counter()
    while size < len(leaves):
        edge = {t: store[t] for t in edge_tiles(size)}
        integ = integrate(size, edge, leaves[size : size + batch])
        store.update(integ.tiles)
        size = integ.size
    return len(leaves) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(args.leaves)]
    raw = sha256_rate()
    batched = integrate_rate(leaves, args.batch)
    whole = integrate_rate(leaves, args.leaves)
    result = {
        "leaves": args.leaves,
        "sha256_64B_per_s": round(raw),
        f"integrate_batches_of_{args.batch}_leaves_per_s": round(batched),
        "integrate_one_batch_leaves_per_s": round(whole),
        "ratio_batched": round(batched / raw, 3),
        "ratio_one_batch": round(whole / raw, 3),
        "target_ratio": 0.35,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:>40}: {v}")


if __name__ == "__main__":
    main()
