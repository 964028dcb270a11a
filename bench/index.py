"""The lookup index's cost as the log grows: objects and bytes written per 1,000-entry batch,
GETs and bytes per lookup (pure simulation over a dict; default thresholds).

    .venv/bin/python bench/index.py [--sizes 100000 1000000] [--json]

Extrapolation to 10^7 entries (3 records per entry, 16 shards, T1 = 4,096, T2 = 131,072):
objects per batch ≤ 17 (at most one per shard, plus the manifest); bytes per batch ≈ L1
rewrites (16 · T1/2 · 40 B ≈ 1.3 MB on average) plus amortised L2 (every T1/(b/16) batches per
shard, ≤ T2 · 40 B = 5.2 MB) and L3 rewrites (≤ 3·10^7/16 · 40 B = 75 MB per shard, every
T2/T1 L2 merges of that shard); GETs per lookup = manifest + L1 + one exact range read each
for L2 and L3 (their fence keys are in the manifest) = 4.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import time

from tlog import index as ix


def simulate(size: int, batch: int = 1000, probes: int = 200) -> dict[str, float]:
    objects: dict[str, bytes] = {}
    manifest = ix.empty_manifest()
    counts, volumes = [], []
    keys = [ix.search_key(f"key:{k}") for k in range(50)]
    rnd = random.Random(size)
    start = time.perf_counter()
    for first in range(0, size, batch):
        recs = []
        for i in range(first, first + batch):
            leaf = hashlib.sha256(i.to_bytes(8, "big")).digest()
            recs += [(leaf, i), (ix.search_key(f"sha256:{leaf.hex()}"), i), (rnd.choice(keys), i)]
        upd = ix.update_index(manifest, recs, first + batch, objects.__getitem__)
        manifest_bytes = ix.format_manifest(upd.manifest)
        objects.update(upd.objects)
        objects[ix.manifest_path(first + batch)] = manifest_bytes
        counts.append(len(upd.objects) + 1)
        volumes.append(sum(map(len, upd.objects.values())) + len(manifest_bytes))
        manifest = upd.manifest
    build = time.perf_counter() - start
    gets, read = [], []
    for _ in range(probes):
        i = rnd.randrange(size)
        key = hashlib.sha256(i.to_bytes(8, "big")).digest()
        n = {"gets": 1, "bytes": len(objects[ix.manifest_path(size)])}

        def read_range(path: str, a: int, b: int, n: dict[str, int] = n) -> bytes:
            n["gets"] += 1
            n["bytes"] += b - a
            return objects[path][a:b]

        assert i in ix.lookup(manifest, key, read_range)
        gets.append(n["gets"])
        read.append(n["bytes"])
    return {"entries": size, "batches": len(counts),
            "objects_per_batch_avg": round(statistics.mean(counts), 1),
            "objects_per_batch_max": max(counts),
            "bytes_per_batch_avg": round(statistics.mean(volumes)),
            "bytes_per_batch_max": max(volumes),
            "gets_per_lookup_max": max(gets), "bytes_per_lookup_avg": round(statistics.mean(read)),
            "simulation_seconds": round(build, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description="index cost")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [simulate(n) for n in args.sizes]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print("  ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
