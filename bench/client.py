"""`tlog verify --index A-B`: entries proven per second against one checkpoint over loopback
HTTP, cold and with a warm disk cache, with requests and bytes per entry; the rate as a ratio to
cores × this machine's single-core Ed25519 verify rate (measured around each run).

    .venv/bin/python bench/client.py [--n 70000] [--verify 20000] [--json]

Target (issue 23 item 3): >= 0.5 × cores × verify rate with a warm cache. The client proves
inclusion (hashing) on all cores, in runs of contiguous indexes (``tlog.client.many``, what
the command uses for thousands of indexes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bracketed
from loglib import TestLog, synthetic_entries
from servers import StaticServer

from tlog.client import LogClient
from tlog.client.many import verify_indexes
from tlog.storage import open_store


def main() -> None:
    ap = argparse.ArgumentParser(description="client throughput")
    ap.add_argument("--n", type=int, default=70_000)
    ap.add_argument("--verify", type=int, default=20_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    runs = []
    with tempfile.TemporaryDirectory() as d, StaticServer(Path(d) / "log") as server:
        log = TestLog(server.root, index=False)
        log.append(synthetic_entries(args.n))
        log.publish()
        cache = Path(d) / "cache"
        for label in ("cold", "warm"):
            def once() -> tuple[float, int, int]:
                store = open_store(server.url, cache_dir=str(cache))
                client = LogClient(store, log.vkey)
                cp = client.checkpoint()
                cost = [0, 0]
                start = time.perf_counter()
                n = sum(1 for _ in verify_indexes(server.url, str(cache), log.vkey, None, cp,
                                                  range(args.verify), cost=cost))
                elapsed = time.perf_counter() - start
                assert n == args.verify
                return n / elapsed, store.stats.gets + cost[0], store.stats.bytes_read + cost[1]

            (rate, gets, got), verify = bracketed(once)
            runs.append({"cache": label, "entries_per_s": round(rate),
                         "requests_per_entry": round(gets / args.verify, 4),
                         "bytes_per_entry": round(got / args.verify, 1),
                         "ratio_vs_cores_x_verify": round(rate / (cores * verify.cryptography), 3)})
    out = {"log_size": args.n, "entries_verified": args.verify, "cores": cores, "runs": runs,
           "target_warm": 0.5}
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
