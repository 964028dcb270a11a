"""`tlog monitor` throughput: entries re-verified per second over loopback HTTP, as a ratio to
cores × this machine's single-core Ed25519 verify rate (measured around each run).

    .venv/bin/python bench/monitor.py [--n 30000] [--repeat 3] [--json]

A log of ``n`` hashedrekord entries is sequenced into a folder once and served by a threaded
HTTP server on 127.0.0.1 (Range support, keep-alive); each run is a fresh monitor state (every
entry read, authenticated against the signed tree and re-verified), as ``tlog monitor`` does
on its first pass. Target (issue 23): >= 0.8 × cores × verify rate.
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

from common import bracketed, summary
from servers import StaticServer
from submissions import hashedrekord_docs

from sequencer.config import LogConfig
from sequencer.lock import publish_empty_log
from sequencer.pipeline import Sequencer
from tlog.client.monitor import Monitor
from tlog.note import generate_key
from tlog.queue import BULK_MAX, bulk_key
from tlog.storage import open_store


def _log(tmp: Path, n: int) -> str:
    skey, vkey = generate_key("bench.example/log")
    (tmp / "log.key").write_text(skey)
    cfg = LogConfig(origin="bench.example/log", store=str(tmp / "public"),
                    queue=str(tmp / "queue"), key_file=str(tmp / "log.key"),
                    batch_size=50_000, state_dir=str(tmp / "state"), site=False)
    store, queue = open_store(cfg.store), open_store(cfg.queue)
    publish_empty_log(store, cfg.origin, skey)
    docs = [d for _, d in hashedrekord_docs(n, seed=7)]
    for i in range(0, n, BULK_MAX):
        body = b"\n".join(docs[i : i + BULK_MAX]) + b"\n"
        queue.put(bulk_key(body, len(docs[i : i + BULK_MAX])), body)
    Sequencer(cfg, store, queue).run()
    return vkey


def main() -> None:
    ap = argparse.ArgumentParser(description="monitor throughput")
    ap.add_argument("--n", type=int, default=30_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        vkey = _log(tmp, args.n)
        with StaticServer(tmp / "public") as server:
            url = server.url
            rates, ratios, own = [], [], []
            for r in range(args.repeat):
                def once(r: int = r) -> float:
                    mon = Monitor(open_store(url), vkey, tmp / f"mon-{r}")
                    start = time.perf_counter()
                    result = mon.run_once(lambda event: None)
                    assert result.entries_checked == args.n and not result.misbehaviour
                    return args.n / (time.perf_counter() - start)

                rate, verify = bracketed(once)
                rates.append(rate)
                ratios.append(rate / (cores * verify.cryptography))
                own.append(rate / (cores * verify.libsodium))
    out = {"entries": args.n, "cores": cores, "entries_per_s": [round(r) for r in rates],
           "ratio_vs_cores_x_verify": summary(ratios),
           "ratio_vs_cores_x_libsodium_verify": summary(own), "target": 0.8}
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
