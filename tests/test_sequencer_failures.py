"""The sequencer's failure table: every write step, "failed, not stored" and "failed, but stored".

The faults are injected by a wrapper around a real folder store: a real disk cannot be made to
fail one chosen write on demand, so this is the one place a stand-in is used (the SIGKILL table in
test_sequencer_process.py kills real processes instead). After each fault the log is re-run with
a healthy store and must end byte-identical to an uninterrupted run, with every published
checkpoint backed by tiles present in the store and no entry lost or appended twice.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest
from seqhelpers import (
    check_published,
    check_tree,
    enqueue,
    make_log,
    sequencer,
    snapshot,
    submission,
)

from tlog.errors import StoreError, TlogError
from tlog.queue import bulk_key
from tlog.storage import open_store

VALUES = [f"artifact-{i}" for i in range(230)] + ["bad-1", "bad-2"] + ["artifact-7", "artifact-8"]


class FaultyStore:
    """Delegates to a real store; the n-th matching write fails before or after it happens."""

    def __init__(self, inner: Any, method: str, pattern: str, mode: str, nth: int = 1) -> None:
        self.inner, self.method, self.pattern, self.mode, self.nth = (
            inner,
            method,
            pattern,
            mode,
            nth,
        )
        self.seen = 0
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name == "delete_many" and self.method == "delete":
            return self._delete_many
        if name == "put_many" and self.method == "put":
            return self._put_many
        if name != self.method:
            return attr

        def call(key: str, *args: Any, **kw: Any) -> Any:
            if self.fired or not fnmatch.fnmatch(key, self.pattern):
                return attr(key, *args, **kw)
            self.seen += 1
            if self.seen < self.nth:
                return attr(key, *args, **kw)
            self.fired = True
            if self.mode == "after":
                attr(key, *args, **kw)
            raise StoreError(f"injected fault ({self.mode})", key=key)

        return call


    def _put_many(self, items: list[tuple[str, bytes]]) -> None:
        """A batch of puts, one object at a time: the faulty one fails, those before it
        are written, those after it are not."""
        put = self.__getattr__("put")
        for key, data in items:
            put(key, data)

    def _delete_many(self, keys: list[str]) -> None:
        """A batch delete is one request: it fails as a whole, before or after."""
        matching = [k for k in keys if fnmatch.fnmatch(k, self.pattern)]
        if self.fired or not matching:
            return self.inner.delete_many(keys)
        self.seen += 1
        if self.seen < self.nth:
            return self.inner.delete_many(keys)
        self.fired = True
        if self.mode == "after":
            self.inner.delete_many(keys)
        raise StoreError(f"injected fault ({self.mode})", key=matching[0])


def enqueue_bulk(queue: Any, values: list[str], per_object: int = 80) -> None:
    """The same submissions as bulk queue objects (what `tlog submit --jsonl` writes)."""
    docs = [submission(v)[1] for v in values]
    for i in range(0, len(docs), per_object):
        body = b"\n".join(docs[i : i + per_object]) + b"\n"
        queue.put(bulk_key(body, len(docs[i : i + per_object])), body)


FILL = {"single": enqueue, "bulk": enqueue_bulk}

# (store, method, key pattern): every kind of write a batch makes, in protocol order.
STEPS = [
    ("queue", "overwrite", "rejected/*"),  # store a rejection reason
    ("queue", "delete", "queue/*"),  # consume a rejected or duplicate item
    ("store", "put", "sequencer/staging/*"),  # stage
    ("store", "replace", "sequencer/lock"),  # commit point
    ("store", "put", "tile/0/*"),  # apply hash tiles
    ("store", "put", "tile/entries/*"),  # apply bundles
    ("store", "put", "index/*"),  # apply index objects
    ("store", "replace", "checkpoint"),  # publish
    ("store", "delete", "sequencer/staging/*"),  # clean up
]


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The store after an uninterrupted run, per way of filling the queue."""
    out = {}
    for fill, put in FILL.items():
        tmp = tmp_path_factory.mktemp(f"reference-{fill}")
        cfg, _, _ = make_log(tmp, batch_size=100)
        put(open_store(cfg.queue), VALUES)
        sequencer(cfg).run()
        out[fill] = snapshot(Path(cfg.store))
    return out


@pytest.mark.parametrize("fill", sorted(FILL))
@pytest.mark.parametrize("mode", ["before", "after"])
@pytest.mark.parametrize(("where", "method", "pattern"), STEPS)
@pytest.mark.parametrize("nth", [1, 2])
def test_fault_then_rerun(
    tmp_path: Path,
    references: dict[str, dict[str, bytes]],
    where: str,
    method: str,
    pattern: str,
    mode: str,
    nth: int,
    fill: str,
) -> None:
    cfg, _, vkey = make_log(tmp_path, batch_size=100)
    store, queue = open_store(cfg.store), open_store(cfg.queue)
    FILL[fill](queue, VALUES)
    faulty = FaultyStore(store if where == "store" else queue, method, pattern, mode, nth)
    kw = {"store": faulty} if where == "store" else {"queue": faulty}
    with pytest.raises(TlogError):
        sequencer(cfg, **kw).run()
    assert faulty.fired
    # Whatever was public at the moment of the fault is fully backed by tiles.
    check_published(store, vkey)
    # A healthy re-run repairs everything and ends where an uninterrupted run ends.
    summary = sequencer(cfg).run()
    size, root, entries = check_published(store, vkey)
    assert size == summary.size == 230
    values = [json.loads(e)["value"] for e in entries]
    assert sorted(values) == sorted(f"artifact-{i}" for i in range(230))  # once each
    assert snapshot(Path(cfg.store)) == references[fill]
    assert list(queue.list("queue/")) == []
    assert sorted(k.split("/")[0] for k in queue.list("rejected/")) == ["rejected"] * 2
    assert list(store.list("sequencer/staging/")) == []
    check_tree(store, size, root)
