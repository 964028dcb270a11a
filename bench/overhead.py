"""Admission's work beyond the signature check, per document, on one core.

    .venv/bin/python bench/overhead.py [--rounds 25]

Times the sequencer's worker task (``log_batch`` over 512 Ed25519 hashedrekord documents)
and the raw check of the same signatures with preloaded keys, through the same verifier
(``tlog.ed25519.verify``: libsodium when PyNaCl is there), interleaved, keeping the
best of each (the machine's drift moves both alike). The difference is what parsing, entry
encoding and index keys cost: what stands between admission and the verify rate.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from submissions import hashedrekord_docs

from tlog.ed25519 import FAST, verify
from tlog.entries.keys import load_public_key
from tlog.entries.submission import log_batch


def main() -> None:
    ap = argparse.ArgumentParser(description="admission overhead per document")
    ap.add_argument("--rounds", type=int, default=25)
    args = ap.parse_args()
    docs = [d for _, d in hashedrekord_docs(512, seed=42)]
    checks = []
    for v in map(json.loads, docs):
        key = load_public_key(v["public_key"].encode(), "public_key")
        checks.append((key.key, key.raw, base64.b64decode(v["signature"]),
                       bytes.fromhex(v["digest"][7:])))
    task = raw = float("inf")
    for _ in range(args.rounds):
        start = time.perf_counter()
        log_batch(docs)
        task = min(task, time.perf_counter() - start)
        start = time.perf_counter()
        for key, raw_key, sig, digest in checks:
            verify(key, raw_key, sig, digest)
        raw = min(raw, time.perf_counter() - start)
    per = 1e6 / len(docs)
    out = {"verifier": "libsodium" if FAST else "cryptography",
           "task_us_per_doc": round(task * per, 1), "raw_verify_us_per_doc": round(raw * per, 1),
           "overhead_us_per_doc": round((task - raw) * per, 1),
           "efficiency": round(raw / task, 3)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
