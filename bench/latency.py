"""Latency from a submission entering the queue to a published checkpoint that includes it,
with `tlog sequence --watch --interval 0.25` running on a folder log (issue 23 item 5).

    .venv/bin/python bench/latency.py [--n 40] [--interval 0.25] [--json]

Two ways, as users meet it:
- ``queue``: the document is written to the queue object by this process (what a CI job's
  submit step ends with), then the public checkpoint is polled every 5 ms;
- ``shell``: `tlog submit` is run, then `tlog verify --index` until it succeeds, each a new
  process (so the figure includes two Python start-ups, as a shell user sees it).
Submissions are spaced by a random 0-0.5 s so they land anywhere in the interval. Printed: the
distribution (p50, p90, p99, max) of each way; targets p50 <= 0.3 s, p99 <= 0.6 s (queue way).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import quantiles
from submissions import hashedrekord_docs

BIN = Path(sys.executable).parent


def _size(public: Path) -> int:
    try:
        return int((public / "checkpoint").read_text().split("\n")[1])
    except (OSError, IndexError, ValueError):
        return -1


def main() -> None:
    ap = argparse.ArgumentParser(description="submit-to-published latency")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        tlog = str(BIN / "tlog")
        subprocess.run([tlog, "keygen", "lat.example/log", "--out", "log"], cwd=tmp, check=True,
                       capture_output=True)
        subprocess.run([tlog, "init", "--store", "public", "--origin", "lat.example/log",
                        "--key", "log.key"], cwd=tmp, check=True, capture_output=True)
        vkey = (tmp / "log.pub").read_text().strip()
        daemon = subprocess.Popen([tlog, "sequence", "--watch", "--interval", str(args.interval)],
                                  cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        docs = list(hashedrekord_docs(2 * args.n + 1, seed=11))
        queue = tmp / "public-queue" / "pending"
        try:
            # Warm up: the daemon's first run starts its admission workers.
            key, doc = docs.pop()
            queue.mkdir(parents=True, exist_ok=True)
            (tmp / "public-queue" / key).write_bytes(doc)
            while _size(tmp / "public") < 1:
                time.sleep(0.01)
            direct, shell = [], []
            for k in range(args.n):
                time.sleep(rng.random() * 0.5)
                key, doc = docs.pop()
                size = _size(tmp / "public")
                tmpfile = tmp / f".{k}.tmp"
                tmpfile.write_bytes(doc)
                start = time.perf_counter()
                tmpfile.rename(tmp / "public-queue" / key)  # appears whole, as a store put
                while _size(tmp / "public") <= size:
                    time.sleep(0.005)
                direct.append(time.perf_counter() - start)
            for _ in range(args.n):
                time.sleep(rng.random() * 0.5)
                key, doc = docs.pop()
                (tmp / "doc.json").write_bytes(doc)
                index = _size(tmp / "public")  # the new entry's index: nothing else is queued
                start = time.perf_counter()
                subprocess.run([tlog, "submit", "--queue", "public-queue", "doc.json"],
                               cwd=tmp, check=True, capture_output=True)
                deadline = time.monotonic() + 30
                while subprocess.run([tlog, "verify", "--log", "public", "--vkey", vkey,
                                      "--index", str(index)], cwd=tmp,
                                     capture_output=True).returncode != 0:
                    if time.monotonic() > deadline:
                        sys.exit(f"entry {index} not verified within 30 s")
                shell.append(time.perf_counter() - start)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    out = {"interval_s": args.interval, "queue_to_published_s": quantiles(direct),
           "shell_submit_to_verified_s": quantiles(shell),
           "target": {"p50": 0.3, "p99": 0.6}}
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
