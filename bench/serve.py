"""`tlog serve` as a Rekor v2 write endpoint: submit-to-answer latency and sustained requests/s
(issue 19 item 3), on a folder log that needs a witness on loopback to publish.

    .venv/bin/python bench/serve.py [--n 60] [--load 2000] [--clients 32] [--json]

Requests are Rekor v2 ``CreateEntryRequest``s (ECDSA P-256, cosign's default key), each for a
distinct artifact. Two measurements:
- ``latency``: one client, requests spaced by a random 0-0.5 s so they land anywhere in the
  sequencing interval (0.25 s); the time from sending to the 201 answer (entry in a published,
  witnessed checkpoint). Targets: p50 <= 0.5 s, p99 <= 1 s.
- ``load``: ``--clients`` clients sending ``--load`` requests as fast as answers come back;
  answered requests/s, divided by the admission rate of the same requests on all cores of this
  machine (measured in the same run, ``tlog.client.admission``) and by cores x cryptography's
  raw P-256 verify rate: what the endpoint costs over checking the signatures alone.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bracketed_by, pkix_verify_rate, quantiles
from servers import free_port, wait_for_port, witness_server

from tlog.client.admission import admit_stream, chunk_documents, shutdown_admission_pool
from tlog.entries.canonical import canonical_json
from tlog.sigstore import submission_from_create_entry

BIN = Path(sys.executable).parent
HOST = "log.bench.test"


def _requests(n: int, seed: int) -> list[dict[str, Any]]:
    keys = [ec.derive_private_key(1000 + seed * 10 + k, ec.SECP256R1()) for k in range(4)]
    der = [base64.b64encode(k.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
        for k in keys]
    out = []
    for i in range(n):
        artifact = b"bench artifact %d of run %d" % (i, seed)
        sig = keys[i % 4].sign(artifact, ec.ECDSA(hashes.SHA256()))
        out.append({"hashedRekordRequestV002": {
            "digest": base64.b64encode(hashlib.sha256(artifact).digest()).decode(),
            "signature": {"content": base64.b64encode(sig).decode(), "verifier": {
                "publicKey": {"rawBytes": der[i % 4]}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}})
    return out


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def _admission_rate(reqs: list[dict[str, Any]], workers: int) -> float:
    docs = [canonical_json(submission_from_create_entry(r)) for r in reqs]
    start = time.perf_counter()
    chunks = [(None, part) for part in chunk_documents(docs, workers)]
    ok = sum(isinstance(r, tuple) for _, part in admit_stream(chunks, workers) for r in part)
    assert ok == len(docs), f"only {ok} of {len(docs)} admitted"
    return len(docs) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description="tlog serve latency and throughput")
    ap.add_argument("--n", type=int, default=60, help="latency samples")
    ap.add_argument("--load", type=int, default=2000, help="requests in the load run")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    workers = os.cpu_count() or 1
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        tlog = str(BIN / "tlog")
        _run([tlog, "keygen", HOST, "--out", "log"], tmp)
        _run([tlog, "init", "--store", "public", "--origin", HOST, "--key", "log.key",
              "--public-url", f"https://{HOST}"], tmp)
        (tmp / "w").mkdir()
        _run([tlog, "witness", "keygen", "witness.bench.test/w1", "--out", "key"], tmp / "w")
        _run([tlog, "witness", "add-log", "--origin", HOST, "--vkey", str(tmp / "log.pub")],
             tmp / "w")
        with witness_server(tmp / "w" / "witness.toml") as wurl:
            _run([tlog, "config", "add-witness", "--url", wurl, "--vkey",
                  str(tmp / "w" / "key.pub"), "--threshold", "1", "--require"], tmp)
            port = free_port()
            server = subprocess.Popen(
                [tlog, "serve", "--listen", f"127.0.0.1:{port}", "--interval",
                 str(args.interval), "--rate", "1000000", "--burst", "1000000"],
                cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}/api/v2/log/entries"
            try:
                wait_for_port(port)
                latency, load = _measure(url, args, rng)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)
    shutdown_admission_pool()
    sample = _requests(max(2000, args.load), seed=99)
    admission, p256 = bracketed_by(lambda: _admission_rate(sample, workers),
                                   pkix_verify_rate("ecdsa-p256"))
    out = {
        "latency_s": latency, "targets_s": {"p50": 0.5, "p99": 1.0},
        "load": {"clients": args.clients, "requests": args.load, **load},
        "admission_per_s_all_cores": round(admission),
        "raw_p256_verify_per_s_one_core": round(p256), "workers": workers,
        "ratio_vs_admission": round(load["answered_per_s"] / admission, 3),
        "ratio_vs_cores_x_raw_verify": round(load["answered_per_s"] / (workers * p256), 3),
    }
    print(json.dumps(out, indent=None if args.json else 2))


def _measure(url: str, args: argparse.Namespace, rng: random.Random
             ) -> tuple[dict[str, float], dict[str, Any]]:
    session = requests.Session()
    warm = _requests(1, seed=1)[0]
    assert session.post(url, json=warm, timeout=60).status_code == 201
    times = []
    for r in _requests(args.n, seed=2):
        time.sleep(rng.random() * 0.5)
        start = time.perf_counter()
        res = session.post(url, json=r, timeout=60)
        assert res.status_code == 201, res.text
        times.append(time.perf_counter() - start)
    reqs = _requests(args.load, seed=3)
    local = threading.local()  # one keep-alive session per client thread (as RekorV2Client)

    def send(i: int) -> tuple[int, float]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        start = time.perf_counter()
        res = local.session.post(url, json=reqs[i], timeout=120)
        return res.status_code, time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(send, range(args.load)))
    elapsed = time.perf_counter() - start
    health = requests.get(url.replace("/api/v2/log/entries", "/healthz"), timeout=30).json()
    codes = [c for c, _ in results]
    assert codes.count(201) == args.load, {c: codes.count(c) for c in set(codes)}
    return quantiles(times), {"answered_per_s": round(args.load / elapsed, 1),
                               "server": {k: health[k] for k in ("runs", "run_seconds",
                                                                 "admitted", "requests")},
                               "latency_under_load_s": quantiles([t for _, t in results])}


if __name__ == "__main__":
    main()
