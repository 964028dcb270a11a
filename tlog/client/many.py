"""Verifying many entries against one checkpoint on all cores (``tlog verify --index A-B``).

The checkpoint is verified once, here; the indexes are cut into contiguous runs (neighbours
share tiles and subtree roots), and each worker process proves its runs with its own client
over the same store and disk cache, against that same checkpoint note. Proofs come back as
bytes; the ``VerifiedEntry`` objects are rebuilt here around the one checkpoint, in order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

from .log import LogClient, VerifiedCheckpoint, VerifiedEntry

__all__ = ["PARALLEL_RUNS", "RUN", "verify_indexes"]

RUN = 512  # indexes per task: two entry bundles' worth, so a task reads few tiles twice
PARALLEL_RUNS = 8  # runs from which the work is spread over processes
_CLIENTS: dict[tuple[str, str | None, str, str | None], Any] = {}


def _client(url: str, cache: str | None, vkey: str, origin: str | None) -> Any:
    """One client per worker process (its tile caches serve every task it gets)."""
    key = (url, cache, vkey, origin)
    if key not in _CLIENTS:
        from tlog.storage import open_store

        _CLIENTS[key] = LogClient(open_store(url, cache_dir=cache), vkey, origin=origin)
    return _CLIENTS[key]


def _prove(ctx: tuple[str, str | None, str, str | None, bytes], indexes: Sequence[int],
           ) -> tuple[list[tuple[int, bytes, bytes, tuple[bytes, ...]]], int, int]:
    """A worker's task: (index, entry, leaf hash, proof) for each index, and the requests and
    bytes it took."""
    url, cache, vkey, origin, note = ctx
    client = _client(url, cache, vkey, origin)
    cp = client.opened(note)
    stats = client.store.stats
    before = (stats.gets, stats.bytes_read)
    out = []
    for i in indexes:
        v = client.entry(i, cp)
        out.append((v.index, v.entry, v.leaf_hash, v.proof))
    return out, stats.gets - before[0], stats.bytes_read - before[1]


def verify_indexes(url: str, cache: str | None, vkey: str, origin: str | None,
                   cp: VerifiedCheckpoint, indexes: Sequence[int], workers: int | None = None,
                   cost: list[int] | None = None) -> Iterator[VerifiedEntry]:
    """Each entry of ``indexes``, proven in the tree of ``cp``, in order, on ``workers``
    processes (default: all cores). ``cost``, if given, gets [requests, bytes] added."""
    runs = [indexes[i : i + RUN] for i in range(0, len(indexes), RUN)]
    # A few runs are done here: each worker reads the right edge's partial tiles (which no
    # cache keeps) and starts its own client, worth it only for thousands of entries.
    workers = (workers or os.cpu_count() or 1) if len(runs) >= PARALLEL_RUNS else 1
    task = partial(_prove, (url, cache, vkey, origin, cp.note))
    results: Iterator[Any]
    if workers == 1 or len(runs) == 1:
        results = map(task, runs)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers)
        results = pool.map(task, runs)
    try:
        for proven, gets, got in results:
            if cost is not None:
                cost[0] += gets
                cost[1] += got
            for index, entry, leaf, proof in proven:
                yield VerifiedEntry(index, entry, leaf, proof, cp)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
