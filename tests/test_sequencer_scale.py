"""Cost does not grow with the log: a batch on a 10,000,000-entry log touches only its right edge.

The big log is built synthetically: only the tiles of its right edge exist (random hashes above
level 0, real leaf hashes of the entries of the partial bundle), with a checkpoint signed over the
root they imply. A sequencer that read anything else would fail on a missing object.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from seqhelpers import enqueue, make_log, sequencer, synthetic_right_edge

from tlog import index as tindex
from tlog.integrate import edge_tiles
from tlog.storage import open_store
from tlog.tiles import ENTRIES, Tile, new_tiles

BIG = 10_000_000


class Counting:
    """Counts requests per kind of object; delegates everything to a real store."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        self.links: Counter[str] = Counter()
        self.read_paths: list[str] = []

    @staticmethod
    def kind(key: str) -> str:
        if key.startswith("tile/entries/"):
            return "bundle"
        if key.startswith("tile/"):
            return "tile"
        return key.split("/")[0]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get(self, key: str) -> bytes:
        self.reads[self.kind(key)] += 1
        self.read_paths.append(key)
        return self.inner.get(key)

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        for k in keys:
            self.reads[self.kind(k)] += 1
            self.read_paths.append(k)
        return self.inner.get_many(keys)

    def fetch(self, key: str) -> tuple[bytes, str]:
        self.reads[self.kind(key)] += 1
        return self.inner.fetch(key)

    def put(self, key: str, data: bytes, *a: Any, **kw: Any) -> None:
        self.writes[self.kind(key)] += 1
        self.inner.put(key, data, *a, **kw)

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        for key, _ in items:
            self.writes[self.kind(key)] += 1
        self.inner.put_many(items)

    def link_many(self, pairs: list[tuple[str, str]]) -> None:
        """A folder applies staged files by hard links: counted apart (no bytes written)."""
        for _, key in pairs:
            self.links[self.kind(key)] += 1
        self.inner.link_many(pairs)

    def replace(self, key: str, *a: Any, **kw: Any) -> str:
        self.writes[self.kind(key)] += 1
        return self.inner.replace(key, *a, **kw)


def _synthetic_log(cfg: Any, skey: str) -> None:
    store = open_store(cfg.store)
    synthetic_right_edge(store, cfg.origin, skey, BIG)
    store.put(tindex.manifest_path(BIG), tindex.format_manifest(tindex.empty_manifest(BIG)))


def test_batch_on_ten_million_reads_only_the_right_edge(tmp_path: Path) -> None:
    cfg, skey, _ = make_log(tmp_path, batch_size=1000)
    _synthetic_log(cfg, skey)
    enqueue(open_store(cfg.queue), [f"big-log-entry-{i}" for i in range(1000)])
    store = Counting(open_store(cfg.store))
    summary = sequencer(cfg, store=store).run()
    assert summary.size == BIG + 1000
    edge = {t.path for t in edge_tiles(BIG)} | {Tile(ENTRIES, BIG // 256, BIG % 256).path}
    tile_reads = {p for p in store.read_paths if p.startswith("tile/")}
    assert tile_reads == edge, tile_reads - edge
    expected_tiles = len(new_tiles(BIG, BIG + 1000))
    # A folder stages each object as a file and links it into place; other stores put it.
    assert store.writes["tile"] + store.links["tile"] == expected_tiles
    total_reads, total_writes = sum(store.reads.values()), sum(store.writes.values())
    print(
        f"\nbatch of 1000 on a log of {BIG}: store reads {dict(store.reads)} (total {total_reads}),"
        f" writes {dict(store.writes)} (total {total_writes}), links {dict(store.links)}"
        " (staged files linked into place); queue reads/writes not included"
    )
    # Everything read from the log store is the lock, the edge and the (cached) index.
    assert store.reads["tile"] + store.reads["bundle"] == len(edge)
    assert total_writes <= expected_tiles + 4 + 49 + 3
