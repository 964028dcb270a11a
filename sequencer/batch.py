"""Building a batch (README steps 3 and 4): the admitted entries of one batch appended to the
committed tree, tiles and bundles integrated from the right edge as results arrive, index
records filed by shard; on a folder, full tiles staged while the workers still verify.
Nothing here writes to the log: the batch becomes visible only through the commit protocol."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Any

from tlog import index as tindex
from tlog.errors import ConfigError
from tlog.integrate import edge_tiles, integrate, integrate_bundles
from tlog.tiles import ENTRIES, Tile

from .lock import Committed

__all__ = ["INTEGRATE_EVERY", "Draft", "ShardRun", "Stage", "bundle_tile"]

INTEGRATE_EVERY = 4096  # admitted entries integrated per pass


def bundle_tile(size: int) -> Tile | None:
    """The partial entry bundle at the right edge of a tree of ``size`` (None: all full)."""
    width = size % 256
    return Tile(ENTRIES, size // 256, width) if width else None


Stage = Callable[[list[tuple[str, bytes]]], list[tuple[str, str]]]
"""Stages objects early, as files of their own; returns (staged file, object path) pairs."""


class Draft:
    """A batch as it is built, chunk by chunk, on top of the committed tree ``base``: the
    items admitted so far, their tiles and bundles (the latest version of each), and
    their index records. Nothing here is published until the batch is committed; on a
    folder (``stage``), tiles that are full, and so final, are staged as they appear."""

    def __init__(self, base: Committed, manifest: tindex.Manifest, edge: dict[Tile, bytes],
                 bundle: bytes | None, keys: list[str], stage: Stage | None = None,
                 nonce: str = "") -> None:
        self.base, self.manifest, self.keys = base, manifest, keys
        self.stage, self.nonce = stage, nonce
        self.early: list[tuple[str, str]] = []  # (staged file, object path) staged so far
        self.size = base.checkpoint.size
        self.edge, self.bundle = edge, bundle
        self.tiles: dict[tuple[int, int], tuple[Tile, bytes]] = {}
        self.runs: list[list[bytes]] = [[] for _ in range(tindex.SHARDS)]
        self.fresh: list[str] = []  # items appended, in index order
        self.dupes: list[str] = []  # items repeating an earlier item of the batch
        self.seen: set[bytes] = set()
        self.pending: list[tuple[str, Any]] = []  # admitted, not yet integrated
        self.known = self.rejected = self.submissions = 0
        self.counts = (0, 0)  # the stores' request counts when the batch began (its cost)

    def append(self, new: list[tuple[str, Any]]) -> None:
        """Take ``new`` (item, (entry, leaf hash, index keys)) as the next entries; they are
        integrated a few thousand at a time (each pass decodes the right edge again and
        re-encodes its partial tiles, so fewer passes cost less)."""
        self.pending += new
        if len(self.pending) >= INTEGRATE_EVERY:
            self.flush()

    def flush(self) -> None:
        """Give the pending entries the next indexes; integrate them from the right edge."""
        new, self.pending = self.pending, []
        if not new:
            return
        start = self.size
        if start + len(new) > tindex.MAX_INDEX:
            raise ConfigError("this log is full: its index holds log indexes below 2^40")
        integ = integrate(start, self.edge, [r[1] for _, r in new])
        bundles = integrate_bundles(start, self.bundle, [r[0] for _, r in new])
        for tile, data in (*integ.tiles.items(), *bundles.items()):
            self.tiles[tile.level, tile.n] = (tile, data)  # a fuller tile replaces a partial
        self.size = integ.size
        self.edge = {t: integ.tiles.get(t) or self.edge[t] for t in edge_tiles(self.size)}
        btile = bundle_tile(self.size)
        self.bundle = bundles[btile] if btile else None
        records: list[bytes] = []
        add = records.append
        kp = tindex.KEY_PREFIX
        for (_, (_, leaf, keys)), i in zip(new, range(start, self.size), strict=True):
            suffix = i.to_bytes(tindex.INDEX_BYTES, "big")
            ps = [leaf[:kp], *(keys[k : k + kp] for k in range(0, len(keys), 32))]
            if len(set(ps)) < len(ps):  # keys sharing a record's prefix (only chosen keys do)
                ps = list(dict.fromkeys(ps))
            for p in ps:
                add(p + suffix)
        self.fresh += [item for item, _ in new]
        self._index(records)
        if self.stage:  # full tiles never change again: stage them now, while workers verify
            full = sorted(k for k, (t, _) in self.tiles.items() if t.is_full)
            if full:
                done = [self.tiles.pop(k) for k in full]
                self.early += self.stage([(t.path, data) for t, data in done])

    def _index(self, records: list[bytes]) -> None:
        """File a pass's index records by shard, sorted, now, while the workers verify: each
        shard keeps a stack of sorted runs, merged two by two like a binary counter, so that
        by the commit only a few short merges are left (not a sort of the whole batch). A
        run is kept as one blob of 13-byte records: a fifth of the memory of a list of them (a
        1,000,000-entry batch holds about 3.5 million)."""
        records.sort()
        cuts = [0, *(bisect.bisect_left(records, bytes([s << 4])) for s in range(1, 16)),
                len(records)]
        for shard, stack in enumerate(self.runs):
            run = records[cuts[shard] : cuts[shard + 1]]
            while stack and len(stack[-1]) <= len(run) * tindex.RECORD_SIZE:
                run = _split(stack.pop()) + run
                run.sort()  # two sorted runs: a linear merge
            if run:
                stack.append(b"".join(run))

    def shard_records(self) -> list[ShardRun]:
        """Each shard's records of the batch, as one sorted run each, made when the index
        merge reads that shard (so only one shard's records are split at a time)."""
        out = [ShardRun(stack[:]) for stack in self.runs]
        for stack in self.runs:
            stack.clear()
        return out

    def objects(self) -> dict[str, bytes]:
        """The tiles and bundles of the batch, by path."""
        return {t.path: data for t, data in self.tiles.values()}




def _split(blob: bytes) -> list[bytes]:
    size = tindex.RECORD_SIZE
    return [blob[i : i + size] for i in range(0, len(blob), size)]


class ShardRun:
    """One shard's index records of a batch: its sorted runs (blobs), merged into one sorted
    sequence of records when iterated (``tlog.index.merge_shards`` reads it so)."""

    def __init__(self, runs: list[bytes]) -> None:
        self.runs = runs

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs) // tindex.RECORD_SIZE

    def __iter__(self) -> Iterator[bytes]:
        records = [rec for run in self.runs for rec in _split(run)]
        records.sort()  # a few sorted runs: a linear merge
        return iter(records)
