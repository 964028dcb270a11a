"""Scale proof (issue 23 item 7): what one batch costs on a log of 10^5 … 10^8 entries.

    .venv/bin/python bench/scale.py [--sizes 100000 … 100000000] [--batch 10000] [--batches 3]
                                    [--cold]

Each size is fast-forwarded, not grown batch by batch (sequencing 10^8 entries would take this
machine two days): in a folder,

- the right edge of a tree of that size (``seqhelpers.synthetic_right_edge``: real level-0
  hashes over the entries of the partial bundle, random hashes above, a checkpoint signed
  over the root they imply); nothing else of the tree exists, so a sequencer that read
  anything else would fail;
- the lookup index in the state the index's own policy reaches at that size in batches of
  ``--batch`` (level sizes from ``tlog.index.replay_counts``, the index's own merge decisions
  replayed on counts), each level object filled with that many sorted records (keys spaced as
  sorted uniform hashes are, random indexes), with a manifest carrying their fence keys: about
  3.9 GB at 10^8 (13-byte records).

Then ``--batches`` real batches of ``--batch`` signed Ed25519 hashedrekord submissions, one
after the other, are sequenced into it by the real pipeline (`Sequencer.run`, admission on all
cores) in a child process, each counted: objects
read and written, bytes written by kind, links (a folder applies staged files by hard links),
how many shards' merges ended in each index level, seconds, the bytes the batch had read from
the disk (``--cold`` empties the page cache first, as on a machine whose memory cannot hold
the index), and the child's peak memory: its own, and the index pages it maps. Flat in
log size: the same figures at every size, except for the index bytes of a batch whose merges
end in L2 or L3, which `bench/index.py --model` amortises.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from seqhelpers import synthetic_right_edge
from submissions import hashedrekord_docs
from test_sequencer_scale import Counting

from sequencer.config import LogConfig, format_config, load_config
from sequencer.lock import CHECKPOINT_KEY, publish_empty_log
from sequencer.pipeline import Sequencer
from tlog import index as ix
from tlog.note import generate_key
from tlog.queue import BULK_MAX, bulk_key
from tlog.storage import open_store

RECORDS_PER_ENTRY = 3  # leaf hash, artifact digest, key fingerprint (measured: bench/index.py)


class Measuring(Counting):
    """``Counting``, plus the bytes written by kind of object (a folder's staged file counted
    as the object it will be linked to)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.written: Counter[str] = Counter()

    def _wrote(self, key: str, data: bytes) -> None:
        inner = key.split("~", 1)[1].replace("~", "/") if "~" in key else key  # staged
        self.written[self.kind(inner)] += len(data)

    def put(self, key: str, data: bytes, *a: Any, **kw: Any) -> None:
        self._wrote(key, data)
        super().put(key, data, *a, **kw)

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        for key, data in items:
            self._wrote(key, data)
        super().put_many(items)

    def replace(self, key: str, old: str, data: bytes, *a: Any, **kw: Any) -> str:
        self._wrote(key, data)
        return super().replace(key, old, data, *a, **kw)


def _level_object(shard: int, records: int, size: int, rng: random.Random) -> bytes:
    """``records`` sorted records of one shard, their keys spaced as sorted uniform hashes are
    (exponential gaps: a Poisson process over the shard's key space, so that lookups meet
    the same unevenness real keys have), each with a random index below ``size``."""
    end = (shard + 1) << 252
    mean = (1 << 252) // (records + 10 * math.isqrt(records) + 10)  # ends inside the shard
    key, unit, draw, index = shard << 252, mean >> 32, rng.expovariate, rng.randrange
    out = bytearray()
    for i in range(records):
        key = min(key + (1 << 192) + int(draw(1.0) * (1 << 32)) * unit,
                  end - ((records - i) << 192))  # distinct in the 8 bytes a record keeps
        out += (key >> 192).to_bytes(ix.KEY_PREFIX, "big")
        out += index(size).to_bytes(ix.INDEX_BYTES, "big")
    return bytes(out)


def build(root: Path, size: int, batch: int) -> LogConfig:
    """A folder log of ``size`` entries: its right edge and its index, fast-forwarded."""
    skey, _ = generate_key("scale.example/log")
    (root / "log.key").write_text(skey)
    cfg = LogConfig(origin="scale.example/log", store=str(root / "public"),
                    queue=str(root / "queue"), key_file=str(root / "log.key"),
                    batch_size=batch, state_dir=str(root / "state"), site=False)
    store = open_store(cfg.store)
    publish_empty_log(store, cfg.origin, skey)
    synthetic_right_edge(store, cfg.origin, skey, size)
    *_, (counts, t1, t2, _) = ix.replay_counts(batch * RECORDS_PER_ENTRY, size // batch)
    rng = random.Random(size)
    shards = []
    for shard in range(ix.SHARDS):
        refs: list[ix.LevelRef | None] = []
        for level, n in enumerate(counts[shard]):
            if not n:
                refs.append(None)
                continue
            path = f"index/{level + 1}/{shard:x}/{size}"
            data = _level_object(shard, n, size, rng)
            store.put(path, data)
            refs.append(ix.level_ref(path, data))
        shards.append(tuple(refs))
    manifest = ix.Manifest(size, tuple(shards), t1, t2)
    store.put(ix.manifest_path(size), ix.format_manifest(manifest))
    (root / "tlog.toml").write_text(format_config(cfg))
    return cfg


def batches(config: Path, count: int, cold: bool) -> list[dict[str, Any]]:
    """In the child process: ``count`` batches one after the other, each queued (untimed),
    then sequenced by one ``Sequencer.run`` and counted."""
    cfg = load_config(str(config))
    out = []
    for k in range(count):
        queue = open_store(cfg.queue)
        docs = [d for _, d in hashedrekord_docs(cfg.batch_size, seed=k)]
        for i in range(0, len(docs), BULK_MAX):
            part = docs[i : i + BULK_MAX]
            body = b"\n".join(part) + b"\n"
            queue.put(bulk_key(body, len(part)), body)
        out.append({"batch": k + 1, "page_cache": "dropped" if cold and _drop_caches()
                    else "warm", **one_batch(cfg)})
    return out


def one_batch(cfg: LogConfig) -> dict[str, Any]:
    """Sequence the queued batch and count what it did."""
    store = Measuring(open_store(cfg.store))
    before = ix.parse_manifest(store.inner.get(ix.manifest_path(_size(store))))
    start, disk = time.perf_counter(), _disk_read()
    summary = Sequencer(cfg, store, open_store(cfg.queue)).run()
    seconds, disk = time.perf_counter() - start, _disk_read() - disk
    after = ix.parse_manifest(store.inner.get(ix.manifest_path(summary.size)))
    merged_into = Counter(  # per shard, the deepest level its merge rewrote
        f"L{1 + max(lv for lv, (a, b) in enumerate(zip(new, old, strict=True)) if a != b)}"
        for new, old in zip(after.levels, before.levels, strict=True) if new != old)
    return {"entries_after": summary.size, "admitted": summary.stats.admitted,
            "objects_read": sum(store.reads.values()), "reads": dict(store.reads),
            "objects_written": sum(store.writes.values()), "writes": dict(store.writes),
            "links": sum(store.links.values()), "bytes_written": sum(store.written.values()),
            "bytes_written_by_kind": dict(store.written),
            "shards_merged_into": dict(sorted(merged_into.items())),
            "seconds": round(seconds, 2), "disk_read_mb": round(disk / 2**20, 1)}


def _disk_read() -> int:
    """Bytes this process has had read from storage (not from the page cache)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def _memory(pid: int) -> dict[str, int]:
    """A process's resident memory in MB: its own (anonymous) pages, and the pages of the files
    it maps (the index levels: the kernel's page cache, which it may drop at will; the
    kernel maps cached pages around each one touched, so this counts more than was read)."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                out[key.lower()] = round(int(value.split()[0]) / 1024)
    return out


def _drop_caches() -> bool:
    """Empty the kernel's page cache (root only), so that the batch reads from the disk."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        return False
    return True


def _child(config: Path, count: int, cold: bool) -> dict[str, Any]:
    """Run ``batches`` in a child process, sampling its memory every 10 ms."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(config), "--batches",
                             str(count), *(["--cold"] if cold else [])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"rssanon": 0, "rssfile": 0}
    while proc.poll() is None:
        for k, v in _memory(proc.pid).items():
            peak[k] = max(peak[k], v)
        time.sleep(0.01)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(err)
    return {"batches": json.loads(out.splitlines()[-1]), "peak_anon_mb": peak["rssanon"],
            "peak_mapped_file_mb": peak["rssfile"]}


def _size(store: Any) -> int:
    from tlog.checkpoint import parse_checkpoint

    text = store.inner.get(CHECKPOINT_KEY).decode()
    return parse_checkpoint(text[: text.index("\n\n") + 1]).size


def main() -> None:
    ap = argparse.ArgumentParser(description="one batch's cost at each log size")
    ap.add_argument("--sizes", type=int, nargs="+",
                    default=[10**5, 10**6, 10**7, 10**8])
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--batches", type=int, default=3, help="batches sequenced at each size")
    ap.add_argument("--cold", action="store_true",
                    help="drop the page cache before each batch (root only)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(batches(args.child, args.batches, args.cold)))
        return
    rows = []
    for size in args.sizes:
        root = Path(tempfile.mkdtemp(prefix="tlog-scale-"))
        try:
            start = time.perf_counter()
            build(root, size + 37, args.batch)  # +37: a partial bundle on the right edge
            built = time.perf_counter() - start
            row = {"log_size": size + 37, "fast_forward_seconds": round(built),
                   **_child(root / "tlog.toml", args.batches, args.cold)}
        finally:
            shutil.rmtree(root, ignore_errors=True)
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        print("  ".join(f"{k}={v}" for k, v in row.items() if k != "batches"))
        for b in row["batches"]:
            print("   ", "  ".join(f"{k}={v}" for k, v in b.items()), flush=True)


if __name__ == "__main__":
    main()
