"""Admitted hashedrekord submissions/s on all cores, next to raw Ed25519 verify/s on one core.

    .venv/bin/python bench/admission.py [--n 20000] [--repeat 5] [--algo ed25519ph] [--json]
    .venv/bin/python bench/admission.py --format ssh|minisign|signify

Admission as the sequencer runs it: ``admit_stream`` over worker tasks cut by
``chunk_documents``, results as the sequencer receives them (entry, leaf hash, index keys).
The first run is "cold" (it starts the worker processes, as a cron run does once); the
others reuse them (every later batch, and ``tlog sequence --watch``). Each run is bracketed
by single-core verify measurements (see common.py); the figure is the median ratio.
Target: admitted/s ≥ 0.8 × cores × single-core verify/s (``cryptography``); the ratio against
libsodium's rate, the verifier admission uses, is printed beside it.

``--algo ed25519ph``: documents signed with Ed25519ph (Rekor v2's only Ed25519), measured
against libsodium's own Ed25519ph verify rate (its ``crypto_sign_ed25519ph_*`` API, which
hashes the message itself and so cannot take the digest a log holds), with the same target.

``--format``: ``signature`` documents in a tool's own format (made here byte for byte as
ssh-keygen, minisign and signify make them), against ``cryptography``'s Ed25519 verify rate
per signature check (minisign checks two Ed25519 signatures per document, so its limit is
half that rate). Target for the prehashed formats (ssh, minisign): 0.8 × cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    bracketed,
    bracketed_by,
    ed25519_verify_rate,
    ed25519ph_verify_rate,
    parallel_verify_rate,
    pkix_verify_rate,
    summary,
)
from submissions import format_signature_docs, hashedrekord_docs, signed_hashedrekord_docs

from tlog.client.admission import admit_stream, chunk_documents, shutdown_admission_pool


def _admit(docs: list[bytes], workers: int) -> float:
    start = time.perf_counter()
    chunks = [(None, part) for part in chunk_documents(docs, workers)]
    ok = sum(isinstance(r, tuple) for _, part in admit_stream(chunks, workers) for r in part)
    elapsed = time.perf_counter() - start
    if ok != len(docs):
        sys.exit(f"only {ok} of {len(docs)} admitted")
    return len(docs) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description="admission throughput")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--algo", choices=["ed25519", "ed25519ph", "ecdsa-p256", "rsa-pkcs1",
                                       "rsa3072-pss"], default="ed25519")
    ap.add_argument("--format", choices=["ssh", "minisign", "signify"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.format:
        return _tool_format(args)
    if args.algo == "ed25519ph":
        return _prehashed(args)
    if args.algo != "ed25519":
        return _pkix(args)
    batches = [[d for _, d in hashedrekord_docs(args.n, seed=42 + r)] for r in range(args.repeat)]
    shutdown_admission_pool()
    rates, ratios, own = [], [], []
    for docs in batches:
        rate, verify = bracketed(lambda docs=docs: _admit(docs, args.workers))
        rates.append(rate)
        ratios.append(rate / (args.workers * verify.cryptography))
        own.append(rate / (args.workers * verify.libsodium))
    ceiling = parallel_verify_rate(args.workers) / (
        args.workers * bracketed(lambda: 0)[1].cryptography)
    out = {"submissions": args.n, "workers": args.workers,
           "admitted_per_s": [round(r) for r in rates],
           "ratio_cold": round(ratios[0], 3),
           "ratio_vs_cores_x_verify": summary(ratios),
           "ratio_vs_cores_x_libsodium_verify": summary(own),
           "machine_parallel_ceiling": round(ceiling, 3), "target": 0.8}
    print(json.dumps(out, indent=None if args.json else 2))


def _against(args: argparse.Namespace, make: Callable[[int], list[bytes]],
             limit: Callable[[float], float], verifier: str, **extra: object) -> None:
    """Admit ``args.repeat`` batches of ``make(seed)`` documents, each bracketed by the
    single-core ``limit`` rate (verifications per second of ``verifier``), and print the
    ratio to cores × that rate."""
    batches = [make(42 + r) for r in range(args.repeat)]
    shutdown_admission_pool()
    rates, limits = [], []
    for docs in batches:
        rate, lim = bracketed_by(lambda docs=docs: _admit(docs, args.workers), limit)
        rates.append(rate)
        limits.append(lim)
    ratios = [r / (args.workers * lim) for r, lim in zip(rates, limits, strict=True)]
    out = {**extra, "submissions": args.n, "workers": args.workers,
           "admitted_per_s": [round(r) for r in rates], "raw_verifier": verifier,
           "raw_verify_per_s_one_core": [round(lim) for lim in limits],
           "ratio_cold": round(ratios[0], 3), "ratio_vs_cores_x_raw_verify": summary(ratios)}
    print(json.dumps(out, indent=None if args.json else 2))


def _prehashed(args: argparse.Namespace) -> None:
    _against(args, lambda seed: signed_hashedrekord_docs("ed25519ph", args.n, seed=seed),
             ed25519ph_verify_rate, "libsodium Ed25519ph", algo="ed25519ph", target=0.8)


def _pkix(args: argparse.Namespace) -> None:
    _against(args, lambda seed: signed_hashedrekord_docs(args.algo, args.n, seed=seed),
             pkix_verify_rate(args.algo), f"cryptography {args.algo}", algo=args.algo, target=0.8)


def _tool_format(args: argparse.Namespace) -> None:
    checks = 2 if args.format == "minisign" else 1  # Ed25519 verifications per document
    _against(args, lambda seed: format_signature_docs(args.format, args.n, seed=seed),
             lambda seconds: ed25519_verify_rate(seconds) / checks,
             f"cryptography Ed25519, {checks} per document", format=args.format,
             target=0.8 if args.format in ("ssh", "minisign") else None)


if __name__ == "__main__":
    main()
