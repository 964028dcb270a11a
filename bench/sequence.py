"""End-to-end sequencing into a local folder: entries/s and objects written per 1,000 entries.

    .venv/bin/python bench/sequence.py [--runs 10000:10000 100000:10000 100000:100000] [--json]

Each run (ENTRIES:BATCH) queues ENTRIES signed Ed25519 hashedrekord submissions (untimed)
either as bulk queue objects of 10,000 (what `tlog submit --jsonl` and multi-file submits
write) or as one object per submission (`--queue-mode single`, what one-at-a-time `tlog
submit` calls write), then times one `Sequencer.run()` with batches of BATCH (with several
batches, the workers verify the next batch while the previous one commits): listing and
reading the queue, admission on all cores, dedup, integration, staging, commit, applying tiles
and index, publishing, deleting the queue. Each run is bracketed by single-core verify measurements
(see common.py) and repeated (``--repeat``); the figure is the median ratio.
Target: ≥ 0.7 × cores × single-core Ed25519 verify/s (``cryptography``); the ratio against
libsodium's rate, the verifier admission uses, is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bracketed, summary
from submissions import hashedrekord_docs

from sequencer.config import LogConfig
from sequencer.lock import publish_empty_log
from sequencer.pipeline import Sequencer
from tlog.client.admission import shutdown_admission_pool
from tlog.note import generate_key
from tlog.queue import BULK_MAX, bulk_key
from tlog.storage import open_store


def run(n: int, tmp: Path, mode: str, batch: int) -> dict[str, Any]:
    skey, _ = generate_key("bench.example/log")
    (tmp / "log.key").write_text(skey)
    cfg = LogConfig(origin="bench.example/log", store=str(tmp / "public"), queue=str(tmp / "queue"),
                    key_file=str(tmp / "log.key"), batch_size=batch,
                    state_dir=str(tmp / "state"), site=False)
    store, queue = open_store(cfg.store), open_store(cfg.queue)
    publish_empty_log(store, cfg.origin, skey)
    docs = list(hashedrekord_docs(n, seed=n))
    if mode == "single":
        for key, doc in docs:
            queue.put(key, doc)
    else:
        for i in range(0, n, BULK_MAX):
            part = [d for _, d in docs[i : i + BULK_MAX]]
            body = b"\n".join(part) + b"\n"
            queue.put(bulk_key(body, len(part)), body)
    del docs
    os.sync()  # the queue was written earlier (in real life, minutes to days): not timed
    seq = Sequencer(cfg, store, queue)

    def timed() -> tuple[Any, float]:
        start = time.perf_counter()
        return seq.run(), time.perf_counter() - start

    (result, elapsed), verify = bracketed(timed)
    assert result.size == n, result
    rate, cores = n / elapsed, os.cpu_count() or 1
    return {"queue": mode, "batch_size": batch, "batches": result.batches, "entries": n,
            "seconds": round(elapsed, 2), "entries_per_s": round(rate),
            "ed25519_verify_per_s_one_core": round(verify.cryptography),
            "libsodium_verify_per_s_one_core": round(verify.libsodium),
            "ratio_vs_cores_x_verify": round(rate / (cores * verify.cryptography), 3),
            "ratio_vs_cores_x_libsodium_verify": round(rate / (cores * verify.libsodium), 3),
            "objects_written_per_1000": round(result.stats.objects_written * 1000 / n, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description="end-to-end sequencing throughput")
    ap.add_argument("--runs", nargs="+", default=["10000:10000", "100000:10000", "100000:100000"],
                    help="ENTRIES:BATCH_SIZE for each run")
    ap.add_argument("--queue-mode", choices=["bulk", "single", "both"], default="bulk")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    modes = ["bulk", "single"] if args.queue_mode == "both" else [args.queue_mode]
    rows, medians, own_medians = [], {}, {}
    for mode in modes:
        for spec in args.runs:
            n, _, batch = spec.partition(":")
            ratios, own = [], []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as d:
                    row = run(int(n), Path(d), mode, int(batch or n))
                rows.append(row)
                ratios.append(row["ratio_vs_cores_x_verify"])
                own.append(row["ratio_vs_cores_x_libsodium_verify"])
            medians[f"{mode} {n} in batches of {batch or n}"] = summary(ratios)
            own_medians[f"{mode} {n} in batches of {batch or n}"] = summary(own)
    shutdown_admission_pool()  # reap the workers so their peak RSS is counted
    out = {"cores": os.cpu_count() or 1, "runs": rows, "ratio_vs_cores_x_verify": medians,
           "ratio_vs_cores_x_libsodium_verify": own_medians,
           "target": 0.7,
           "peak_rss_mb_self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "peak_rss_mb_workers": round(
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
