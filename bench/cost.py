"""What the log costs to run on S3 and to serve from a CDN, from requests counted in one run.

    .venv/bin/python bench/cost.py [--entries 100000] [--batch 10000] [--verifications 20]

Sequencing: ``--entries`` signed Ed25519 hashedrekord submissions are queued as `tlog submit
--jsonl` queues them (bulk objects) into an S3 bucket served by moto on loopback (a real HTTP
S3 API), then sequenced in batches of ``--batch``. Every HTTP request the S3 client sends is
counted by operation (botocore's ``before-send`` event), with the bytes it uploads; the bytes
left in the bucket are what the log stores. Scaled to one million entries and priced at the
list prices below (``--price`` overrides them).

Serving: the log is copied to a folder served over loopback HTTP that counts requests and
bytes (the CDN's view), and ``--verifications`` `tlog verify --index i` processes, each with
an empty cache, verify random entries: requests and bytes per verification, priced per
million verifications.

Following: a monitor polling every minute (``tlog monitor`` against the same CDN view, a fresh
state): its first pass over the whole log, a poll with nothing new, and ``--polls`` polls each
after a minute's worth of ``--per-day`` new entries is sequenced, priced per month for one
monitor.

What the figures leave out: the index's growth with the log (a batch at 10^7–10^8 entries
writes more index bytes than one at 10^5: see `bench/index.py --model`; uploads are free on S3
and GCS, so that costs time, not money) and egress to the CDN.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers import S3_CREDENTIALS, StaticServer, moto_server
from submissions import hashedrekord_docs

from sequencer.config import LogConfig
from sequencer.lock import publish_empty_log
from sequencer.pipeline import Sequencer
from tlog.client.admission import shutdown_admission_pool
from tlog.note import generate_key, vkey_for_skey
from tlog.queue import BULK_MAX, bulk_key
from tlog.storage import open_store

BIN = Path(sys.executable).parent

# US$ list prices (S3 Standard, us-east-1; GCS Standard, one region; CloudFront, first 10 TB
# to North America), as published in 2024. Deletes and uploads are free on both stores.
PRICES = {
    "s3_write_per_1000": 0.005,  # PUT, COPY, POST, LIST
    "s3_read_per_1000": 0.0004,  # GET, HEAD
    "s3_gb_month": 0.023,
    "gcs_class_a_per_1000": 0.005,  # writes, lists
    "gcs_class_b_per_1000": 0.0004,  # reads
    "gcs_gb_month": 0.020,
    "cdn_gb": 0.085,
    "cdn_per_10000_requests": 0.0100,  # HTTPS
}
_READS = {"GetObject", "HeadObject"}
_FREE = {"DeleteObject", "DeleteObjects"}


class RequestCounter:
    """Counts the HTTP requests an S3 client sends (retries included) by operation, and the
    bytes they upload."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.uploaded = 0

    def attach(self, store: Any) -> None:
        store.client.meta.events.register("before-send.s3.*", self._sent)

    def detach(self, store: Any) -> None:
        store.client.meta.events.unregister("before-send.s3.*", self._sent)

    def _sent(self, request: Any, event_name: str, **_: Any) -> None:
        self.calls[event_name.rsplit(".", 1)[1]] += 1
        if request.method == "PUT":
            self.uploaded += int(request.headers.get("Content-Length", 0))

    def split(self) -> dict[str, int]:
        reads = sum(n for op, n in self.calls.items() if op in _READS)
        free = sum(n for op, n in self.calls.items() if op in _FREE)
        return {"writes_and_lists": sum(self.calls.values()) - reads - free, "reads": reads,
                "deletes": free}


def _bucket_bytes(store: Any, prefix: str = "") -> tuple[int, int]:
    objects = size = 0
    for page in store.client.get_paginator("list_objects_v2").paginate(
            Bucket=store.bucket, Prefix=store.prefix + prefix):
        for o in page.get("Contents", []):
            objects, size = objects + 1, size + o["Size"]
    return objects, size


def sequence(entries: int, batch: int, endpoint: str, tmp: Path) -> dict[str, Any]:
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="cost")
    skey, _ = generate_key("cost.example/log")
    (tmp / "log.key").write_text(skey)
    cfg = LogConfig(origin="cost.example/log", store="s3://cost/log", queue="s3://cost/queue",
                    key_file=str(tmp / "log.key"), batch_size=batch,
                    state_dir=str(tmp / "state"), site=False)
    store = open_store(cfg.store, endpoint=endpoint)
    queue = open_store(cfg.queue, endpoint=endpoint)
    publish_empty_log(store, cfg.origin, skey)
    submit, run = RequestCounter(), RequestCounter()
    submit.attach(queue)
    part: list[bytes] = []
    for _, doc in hashedrekord_docs(entries, seed=11):
        part.append(doc)
        if len(part) == BULK_MAX or len(part) == entries:
            body = b"\n".join(part) + b"\n"
            queue.put(bulk_key(body, len(part)), body)
            entries -= len(part)
            part = []
    submit.detach(queue)
    run.attach(store)
    run.attach(queue)
    summary = Sequencer(cfg, store, queue).run()
    objects, stored = _bucket_bytes(store)
    return {"entries": summary.size, "batches": summary.batches, "submit": submit.split(),
            "submit_calls": dict(submit.calls), "sequence": run.split(),
            "sequence_calls": dict(run.calls), "uploaded_bytes": run.uploaded,
            "stored_objects": objects, "stored_bytes": stored, "vkey": vkey_for_skey(skey),
            "store": store, "queue": queue, "cfg": cfg}


def _download(store: Any, root: Path) -> None:
    for page in store.client.get_paginator("list_objects_v2").paginate(
            Bucket=store.bucket, Prefix=store.prefix):
        for o in page.get("Contents", []):
            key = o["Key"][len(store.prefix):]
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(store.get(key))


def serve(store: Any, vkey: str, size: int, n: int, tmp: Path) -> dict[str, Any]:
    root = tmp / "cdn"
    _download(store, root)
    (tmp / "log.pub").write_text(vkey + "\n")
    rng = random.Random(5)
    requests, sent = [], []
    with StaticServer(root) as server:
        for _ in range(n):
            server.reset()
            env = _isolated(tmp)
            res = subprocess.run([str(BIN / "tlog"), "verify", "--log", server.url, "--vkey",
                                  str(tmp / "log.pub"), "--index", str(rng.randrange(size))],
                                 capture_output=True, text=True, env=env, timeout=60)
            assert res.returncode == 0, res.stderr
            requests.append(server.count())
            sent.append(sum(server.sent.values()))
    return {"verifications": n, "requests_per_verification": sum(requests) / n,
            "bytes_per_verification": sum(sent) / n}


def _isolated(tmp: Path) -> dict[str, str]:
    """A client environment with an empty cache and no config of its own."""
    home = tmp / "home"
    shutil.rmtree(home, ignore_errors=True)
    return {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_STATE_HOME": str(home / "state"), "XDG_CONFIG_HOME": str(home / "cfg")}


def follow(seq: dict[str, Any], per_poll: int, rounds: int, tmp: Path) -> dict[str, Any]:
    """A monitor following the log through the CDN: (requests, bytes) of its first pass, of a
    poll with nothing new, and the mean of ``rounds`` polls each after ``per_poll`` more
    entries (a minute's worth: a poll re-reads the partial tiles at the log's right edge, so
    the cost is measured at the pace it is priced at, not extrapolated from a large step)."""
    root, state, env = tmp / "cdn", tmp / "monitor", _isolated(tmp)
    argv = [str(BIN / "tlog"), "monitor", "--vkey", str(tmp / "log.pub"), "--state",
            str(state), "--json"]

    def poll() -> tuple[int, int]:
        with StaticServer(root) as server:
            res = subprocess.run([*argv, "--log", server.url], capture_output=True, text=True,
                                 env=env, timeout=600)
            assert res.returncode == 0, res.stderr
            return server.count(), sum(server.sent.values())

    first, idle = poll(), poll()
    queue, store, grown = seq["queue"], seq["store"], []
    for r in range(rounds):
        body = b"\n".join(d for _, d in hashedrekord_docs(per_poll, seed=100 + r)) + b"\n"
        queue.put(bulk_key(body, per_poll), body)
        Sequencer(seq["cfg"], store, queue).run()
        _download(store, root)
        grown.append(poll())
    return {"monitor_first_pass": {"requests": first[0], "bytes": first[1]},
            "monitor_idle_poll": {"requests": idle[0], "bytes": idle[1]},
            "monitor_poll_with_new_entries": {
                "entries": per_poll, "polls": rounds,
                "requests": round(sum(g[0] for g in grown) / rounds, 1),
                "bytes": round(sum(g[1] for g in grown) / rounds)}}


def price(seq: dict[str, Any], cdn: dict[str, Any], p: dict[str, float]) -> dict[str, Any]:
    per_million = 1_000_000 / seq["entries"]
    writes = (seq["submit"]["writes_and_lists"] + seq["sequence"]["writes_and_lists"]) \
        * per_million
    reads = (seq["submit"]["reads"] + seq["sequence"]["reads"]) * per_million
    gb = seq["stored_bytes"] * per_million / 1e9
    million = 1_000_000
    return {
        "per_million_entries": {
            "write_and_list_requests": round(writes), "read_requests": round(reads),
            "uploaded_gb": round(seq["uploaded_bytes"] * per_million / 1e9, 2),
            "stored_gb": round(gb, 2),
            "s3_usd_requests": round(writes / 1000 * p["s3_write_per_1000"]
                                     + reads / 1000 * p["s3_read_per_1000"], 2),
            "s3_usd_storage_per_month": round(gb * p["s3_gb_month"], 3),
            "gcs_usd_requests": round(writes / 1000 * p["gcs_class_a_per_1000"]
                                      + reads / 1000 * p["gcs_class_b_per_1000"], 2),
            "gcs_usd_storage_per_month": round(gb * p["gcs_gb_month"], 3)},
        "per_million_verifications": {
            "requests": round(cdn["requests_per_verification"] * million),
            "gb": round(cdn["bytes_per_verification"] * million / 1e9, 2),
            "cdn_usd": round(cdn["requests_per_verification"] * million / 10_000
                             * p["cdn_per_10000_requests"]
                             + cdn["bytes_per_verification"] * million / 1e9 * p["cdn_gb"], 2)},
    }


def price_following(f: dict[str, Any], per_day: int, p: dict[str, float]) -> dict[str, Any]:
    """One monitor polling every minute for a 30-day month, the log growing by ``per_day``
    spread over the day: a poll finds the measured minute's worth of new entries, or, below
    one a minute, ``per_day`` polls a day find one each and the others nothing."""
    polls, idle, busy = 30 * 24 * 60, f["monitor_idle_poll"], f["monitor_poll_with_new_entries"]
    active = min(polls, 30 * per_day) if per_day else 0
    requests = active * busy["requests"] + (polls - active) * idle["requests"]
    gb = (active * busy["bytes"] + (polls - active) * idle["bytes"]) / 1e9
    return {"new_entries_per_day": per_day, "polls": polls, "polls_with_new_entries": active,
            "requests": round(requests), "gb": round(gb, 2),
            "cdn_usd": round(requests / 10_000 * p["cdn_per_10000_requests"]
                             + gb * p["cdn_gb"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description="what the log costs on S3/GCS and a CDN")
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--verifications", type=int, default=20)
    ap.add_argument("--per-day", type=int, default=100_000,
                    help="new entries a day, for the monitor polling every minute")
    ap.add_argument("--polls", type=int, default=5,
                    help="polls measured, each after a minute's worth of new entries")
    ap.add_argument("--price", action="append", default=[], metavar="NAME=USD",
                    help=f"override a price ({', '.join(PRICES)})")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    prices = dict(PRICES)
    for item in args.price:
        name, _, value = item.partition("=")
        if name not in prices:
            raise SystemExit(f"--price: unknown {name!r} (known: {', '.join(prices)})")
        prices[name] = float(value)
    os.environ.update(S3_CREDENTIALS)
    with tempfile.TemporaryDirectory() as d, moto_server() as endpoint:
        tmp = Path(d)
        seq = sequence(args.entries, args.batch, endpoint, tmp)
        cdn = serve(seq["store"], seq.pop("vkey"), seq["entries"], args.verifications, tmp)
        following = follow(seq, max(1, args.per_day // 1440), args.polls, tmp)
        shutdown_admission_pool()
    for k in ("store", "queue", "cfg"):
        seq.pop(k)
    out = {"measured": {**seq, **cdn, **following}, "prices_usd": prices,
           **price(seq, cdn, prices),
           "per_month_one_monitor_every_minute": price_following(following, args.per_day,
                                                                 prices)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
