"""Admitted hashedrekord submissions/s on all cores, next to raw Ed25519 verify/s on one core.

    .venv/bin/python bench/admission.py [--n 20000] [--json]

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


def main() -> None:
    ap = argparse.ArgumentParser(description="admission throughput")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    docs = [d for _, d in hashedrekord_docs(args.n, seed=42)]
    verify = ed25519_verify_rate()
    start = time.perf_counter()
    results = admit_many(docs, workers=args.workers)
    elapsed = time.perf_counter() - start
    ok = sum(isinstance(r, Admitted) for r in results)
    if ok != args.n:
        sys.exit(f"only {ok} of {args.n} admitted")
    rate = args.n / elapsed
    out = {
        "submissions": args.n,
        "workers": args.workers,
        "admitted_per_s": round(rate),
        "ed25519_verify_per_s_one_core": round(verify),
        "ratio_vs_cores_x_verify": round(rate / (args.workers * verify), 3),
        "target": 0.8,
    }
    lines = "\n".join(f"{k:>32}: {v}" for k, v in out.items())
    print(json.dumps(out, indent=2) if args.json else lines)


if __name__ == "__main__":
    main()
