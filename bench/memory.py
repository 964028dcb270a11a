"""The sequencer's memory (issue 23 item 8): peak RSS of one large batch, and RSS across many
batches in one process (a `--watch` daemon's life).

    .venv/bin/python bench/memory.py [--batch 1000000] [--batches 100] [--per-batch 2000]

``--batch``: N signed Ed25519 hashedrekord submissions are queued (as bulk objects, untimed),
then a child process runs one `tlog sequence` with ``batch_size = N``; its peak RSS (the main
process, `getrusage` of the child; admission workers are separate processes and reported
apart) against the target of 500 MB at 1,000,000. ``--batches``: one `Sequencer` runs
``--batches`` runs of ``--per-batch`` each, in this process; RSS after each is printed as first,
median, last and max, with the growth from the 10th to the last (flat: within noise).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from submissions import hashedrekord_docs

from sequencer.config import LogConfig, format_config
from sequencer.lock import publish_empty_log
from sequencer.pipeline import Sequencer
from tlog.note import generate_key
from tlog.queue import BULK_MAX, bulk_key
from tlog.storage import open_store

BIN = Path(sys.executable).parent


def _log(tmp: Path, batch: int) -> tuple[LogConfig, object, object]:
    skey, _ = generate_key("memory.example/log")
    (tmp / "log.key").write_text(skey)
    cfg = LogConfig(origin="memory.example/log", store=str(tmp / "public"),
                    queue=str(tmp / "queue"), key_file=str(tmp / "log.key"), batch_size=batch,
                    state_dir=str(tmp / "state"), site=False)
    store, queue = open_store(cfg.store), open_store(cfg.queue)
    publish_empty_log(store, cfg.origin, skey)
    return cfg, store, queue


def _queue(queue: object, n: int, seed: int) -> None:
    part: list[bytes] = []
    for _, doc in hashedrekord_docs(n, seed=seed):
        part.append(doc)
        if len(part) == BULK_MAX:
            body = b"\n".join(part) + b"\n"
            queue.put(bulk_key(body, len(part)), body)  # type: ignore[attr-defined]
            part = []
    if part:
        body = b"\n".join(part) + b"\n"
        queue.put(bulk_key(body, len(part)), body)  # type: ignore[attr-defined]


def _rss_mb(kind: str = "VmRSS") -> float:
    """This process's resident memory in MB: ``VmRSS`` in all, ``RssAnon`` its heap (without
    the pages of memory-mapped index files, which the kernel may drop at will)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(kind + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_batch(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg, _, queue = _log(tmp, n)
        _queue(queue, n, seed=8)
        (tmp / "tlog.toml").write_text(format_config(cfg))
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        res = subprocess.run([str(BIN / "tlog"), "sequence", "--config", str(tmp / "tlog.toml"),
                              "--json"], capture_output=True, text=True, timeout=7200)
        assert res.returncode == 0, res.stderr
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        summary = json.loads(res.stdout.splitlines()[-1])
        assert summary["size"] == n, summary
        # ru_maxrss of children is the largest of them: the sequencer's main process here
        # (its admission workers are smaller, each holding one chunk at a time).
        return {"batch": n, "peak_rss_mb": round(max(peak, before) / 1024),
                "seconds": summary["seconds"], "target_mb": 500 if n >= 1_000_000 else None}


def many_batches(batches: int, per: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg, store, queue = _log(tmp, per)
        seq = Sequencer(cfg, store, queue)
        rss, anon = [], []
        for b in range(batches):
            _queue(queue, per, seed=1000 + b)
            seq.run()
            rss.append(_rss_mb())
            anon.append(_rss_mb("RssAnon"))
    tenth = min(9, len(rss) - 1)
    return {"batches": batches, "per_batch": per, "rss_mb_first": round(rss[0]),
            "rss_mb_median": round(statistics.median(rss)), "rss_mb_last": round(rss[-1]),
            "rss_mb_max": round(max(rss)),
            "growth_from_10th_to_last_mb": round(rss[-1] - rss[tenth], 1),
            "heap_mb_first": round(anon[0]), "heap_mb_last": round(anon[-1]),
            "heap_growth_from_10th_to_last_mb": round(anon[-1] - anon[tenth], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description="sequencer memory")
    ap.add_argument("--batch", type=int, default=1_000_000)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--per-batch", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = {"one_batch": one_batch(args.batch) if args.batch else None,
           "many_batches": many_batches(args.batches, args.per_batch) if args.batches else None}
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
