"""add-checkpoint requests/s against `tlog witness serve` (uvicorn) on loopback.

    .venv/bin/python bench/witness.py [--seconds 5] [--clients 1 8] [--wrk] [--json]

Each request is a full, valid add-checkpoint for a log the witness follows (the same tree
again, which the spec answers with a fresh cosignature): parse, verify the log's Ed25519
signature, check the state, cosign, and commit the new state to SQLite before answering.
Clients use keep-alive sessions. The figure is set beside this machine's single-core
Ed25519 verify rate (each request costs one verify and one sign).

``--workers 2``: the witness serves from two processes (witness.toml's ``workers``).

``--wrk``: the load comes from wrk (Debian's package, one thread, C) instead of Python
clients, which on a 2-core machine cost more CPU than the witness they measure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

# This file is named like the `witness` package; the repository root goes first so that
# `import witness` finds the package, not this script.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))

from common import ed25519_verify_rate
from servers import witness_server

from tlog.checkpoint import Checkpoint, format_checkpoint
from tlog.cosignature import generate_cosignature_key
from tlog.note import generate_key, new_signer, sign_note
from tlog.witness_protocol import format_add_checkpoint
from witness.state import WitnessState


def _setup(tmp: Path, workers: int = 1) -> tuple[Path, bytes]:
    skey, vkey = generate_key("bench.example/log")
    wkey, _ = generate_cosignature_key("bench.example/witness")
    (tmp / "w.key").write_text(wkey + "\n")
    (tmp / "witness.toml").write_text(f'key_file = "w.key"\nstate = "w.db"\nworkers = {workers}\n')
    state = WitnessState(tmp / "w.db")
    state.add_log("bench.example/log", [vkey])
    root = bytes(range(32))
    note = sign_note(format_checkpoint(Checkpoint("bench.example/log", 1000, root)),
                     new_signer(skey))
    start = state.get("bench.example/log")
    assert start is not None and state.compare_and_swap(start, 1000, root, note)
    return tmp / "witness.toml", format_add_checkpoint(1000, [], note)


def _load(url: str, body: bytes, clients: int, seconds: float) -> float:
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        with requests.Session() as s:
            while time.monotonic() < stop:
                r = s.post(url + "/add-checkpoint", data=body, timeout=30)
                if r.status_code != 200:
                    raise SystemExit(f"unexpected {r.status_code}: {r.text}")
                counts[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - start)


def _wrk(url: str, body: bytes, clients: int, seconds: float, tmp: Path) -> float:
    import re
    import shutil
    import subprocess

    if shutil.which("wrk") is None:
        raise SystemExit("--wrk needs wrk: apt-get install wrk")
    (tmp / "body").write_bytes(body)
    script = tmp / "post.lua"
    script.write_text('wrk.method = "POST"\n'
                      f'local f = io.open("{tmp / "body"}", "rb")\n'
                      'wrk.body = f:read("*a")\nf:close()\n')
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{int(seconds)}s", "-s", str(script),
                          url + "/add-checkpoint"], capture_output=True, text=True,
                         check=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"unexpected answers:\n{out}")
    return float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    ap = argparse.ArgumentParser(description="witness add-checkpoint throughput")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--wrk", action="store_true", help="load from wrk (Debian's package)")
    ap.add_argument("--workers", type=int, default=1, help="witness.toml's workers")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    verify = ed25519_verify_rate()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        config, body = _setup(Path(d), args.workers)
        with witness_server(config) as url:
            _load(url, body, 1, 0.5)  # warm up
            for c in args.clients:
                rate = (_wrk(url, body, c, args.seconds, Path(d)) if args.wrk
                        else _load(url, body, c, args.seconds))
                rows.append({"clients": c, "requests_per_s": round(rate)})
    verify = (verify + ed25519_verify_rate()) / 2  # the limit on both sides of the runs
    for r in rows:
        r["ratio_vs_one_core_verify"] = round(r["requests_per_s"] / verify, 3)
    out = {"ed25519_verify_per_s_one_core": round(verify), "runs": rows, "workers": args.workers,
           "load": "wrk" if args.wrk else "python requests"}
    print(json.dumps(out, indent=2) if args.json else "\n".join(
        f"{r['clients']:>3} clients: {r['requests_per_s']:>6} add-checkpoint/s "
        f"({r['ratio_vs_one_core_verify']} × one core's Ed25519 verify/s)" for r in rows))


if __name__ == "__main__":
    main()
