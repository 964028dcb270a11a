"""The lookup index's cost as the log grows.

    .venv/bin/python bench/index.py [--sizes 100000 1000000] [--json]
    .venv/bin/python bench/index.py --model [--batch 10000] [--upto 100000000]

Default: a pure simulation over a dict (real records, real merges, default thresholds):
objects and bytes written per 1,000-entry batch, GETs and bytes per lookup.

``--model``: index bytes written per batch against the batch's entry-bundle bytes (issue 23 item
6: ≤ 2×, amortised), to 10^8 entries in seconds. It first sequences 2,000 real Ed25519
hashedrekord submissions into a folder log to measure what one entry costs there (its bundle
bytes and its index records), then replays the index's own merge decisions
(``tlog.index.replay_counts``) batch after batch on
record counts only, each shard receiving an equal share (keys are uniform hashes). Printed for
the size-ratio thresholds the index uses and for the fixed ones it had before (4,096 and
131,072), at each power of ten: the amortised ratio since the start and over the last decade,
and the largest batch's bytes.
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


def entry_cost(n: int = 2000) -> dict[str, float]:
    """Bundle bytes and index records per entry, from a real folder log of ``n`` entries."""
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from submissions import hashedrekord_docs

    from sequencer.config import LogConfig
    from sequencer.lock import publish_empty_log
    from sequencer.pipeline import Sequencer
    from tlog.client.admission import shutdown_admission_pool
    from tlog.note import generate_key
    from tlog.storage import open_store

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        skey, _ = generate_key("index.example/log")
        (tmp / "log.key").write_text(skey)
        cfg = LogConfig(origin="index.example/log", store=str(tmp / "public"),
                        queue=str(tmp / "queue"), key_file=str(tmp / "log.key"),
                        batch_size=n, state_dir=str(tmp / "state"), site=False)
        store, queue = open_store(cfg.store), open_store(cfg.queue)
        publish_empty_log(store, cfg.origin, skey)
        for key, doc in hashedrekord_docs(n, seed=3):
            queue.put(key, doc)
        assert Sequencer(cfg, store, queue).run().size == n
        shutdown_admission_pool()
        bundles = [f for f in (tmp / "public" / "tile" / "entries").rglob("*")  # full tiles
                   if f.is_file() and not f.parent.name.endswith(".p")]
        entries = 256 * len(bundles)
        manifest = ix.parse_manifest(store.get(ix.manifest_path(n)))
        records = sum(r.records for shard in manifest.levels for r in shard if r)
        return {"bundle_bytes_per_entry": sum(f.stat().st_size for f in bundles) / entries,
                "records_per_entry": records / n}


def manifest_bytes(counts: list[list[int]], size: int, t1: int, t2: int) -> int:
    """The bytes of the manifest a batch writes beside its level objects, for these record
    counts: formatted for real, with as many fence keys as ``tlog.index.level_ref`` makes."""
    levels = []
    for shard, c in enumerate(counts):
        refs: list[ix.LevelRef | None] = []
        for level, n in enumerate(c):
            if not n:
                refs.append(None)
                continue
            stride = max(512, -(-n // ix.MAX_FENCES))
            refs.append(ix.LevelRef(f"index/{level + 1}/{shard:x}/{size}", n,
                                    bytes(8 * -(-n // stride)), stride))
        levels.append(tuple(refs))
    return len(ix.format_manifest(ix.Manifest(size, tuple(levels), t1, t2)))


def model(batch: int, upto: int, records_per_entry: float, bundle_bytes: float,
          fixed: bool) -> list[dict[str, float]]:
    """Index bytes per batch of ``batch`` entries (its level objects and its manifest),
    replayed on record counts to ``upto``."""
    written = biggest = decade_written = 0.0
    rows, mark, decade_start = [], 10 ** 5, 0
    steps = ix.replay_counts(round(batch * records_per_entry), upto // batch, fixed)
    for b, (counts, t1, t2, out) in enumerate(steps, 1):
        out += manifest_bytes(counts, b * batch, t1, t2)
        written, decade_written, biggest = written + out, decade_written + out, max(biggest, out)
        if b * batch >= mark:
            bundle = batch * bundle_bytes
            rows.append({"entries": b * batch, "thresholds": "fixed" if fixed else "size-ratio",
                         "index_bytes_per_batch_avg": round(written / b),
                         "ratio_to_bundle_bytes_all": round(written / b / bundle, 2),
                         "ratio_to_bundle_bytes_last_decade":
                             round(decade_written / (b - decade_start) / bundle, 2),
                         "rewrites_per_record": round(written / b / (batch * records_per_entry
                                                                    * ix.RECORD_SIZE), 1),
                         "largest_batch_bytes": round(biggest), "t1": t1, "t2": t2})
            mark, decade_start, decade_written = mark * 10, b, 0.0
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description="index cost")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--model", action="store_true", help="bytes per batch to --upto, modelled")
    ap.add_argument("--batch", type=int, nargs="+", default=[10_000, 57])
    ap.add_argument("--upto", type=int, default=100_000_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.model:
        cost = entry_cost()
        rows = [{"batch": b, **r} for b in args.batch for fixed in (False, True)
                for r in model(b, args.upto if b >= 1000 else args.upto // 100,
                               cost["records_per_entry"], cost["bundle_bytes_per_entry"], fixed)]
        if args.json:
            print(json.dumps({"measured": cost, "rows": rows}, indent=2))
        else:
            print("  ".join(f"{k}={round(v, 2)}" for k, v in cost.items()))
            for r in rows:
                print("  ".join(f"{k}={v}" for k, v in r.items()))
        return
    rows = [simulate(n) for n in args.sizes]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print("  ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
