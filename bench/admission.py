"""Admitted hashedrekord submissions/s on all cores, next to raw Ed25519 verify/s on one core.

    .venv/bin/python bench/admission.py [--n 20000] [--json]

Admission as the sequencer runs it (`admit_many(..., ids=False)`: the queue key already names
the submission). Two figures: "cold" includes starting the worker processes (a cron run pays
it once per run), "warm" reuses them (every later batch, and `tlog sequence --watch`).
Target: admitted/s ≥ 0.8 × cores × single-core verify/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ed25519_verify_rate
from submissions import hashedrekord_docs

from tlog.entries import Admitted, admit_many
from tlog.entries.submission import shutdown_admission_pool


def main() -> None:
    ap = argparse.ArgumentParser(description="admission throughput")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    docs = [d for _, d in hashedrekord_docs(args.n, seed=42)]
    more = [d for _, d in hashedrekord_docs(args.n, seed=43)]
    verify = ed25519_verify_rate()
    shutdown_admission_pool()
    out: dict[str, object] = {"submissions": args.n, "workers": args.workers,
                              "ed25519_verify_per_s_one_core": round(verify)}
    for label, batch in (("cold", docs), ("warm", more)):
        start = time.perf_counter()
        results = admit_many(batch, workers=args.workers, ids=False)
        elapsed = time.perf_counter() - start
        ok = sum(isinstance(r, Admitted) for r in results)
        if ok != args.n:
            sys.exit(f"only {ok} of {args.n} admitted")
        rate = args.n / elapsed
        out[f"admitted_per_s_{label}"] = round(rate)
        out[f"ratio_vs_cores_x_verify_{label}"] = round(rate / (args.workers * verify), 3)
    out["target"] = 0.8
    lines = "\n".join(f"{k:>32}: {v}" for k, v in out.items())
    print(json.dumps(out, indent=2) if args.json else lines)


if __name__ == "__main__":
    main()
