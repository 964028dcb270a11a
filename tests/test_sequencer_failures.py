"""The sequencer's failure table: every write step, "failed, not stored" and "failed, but stored".

The faults are injected by a wrapper around a real folder store: a real disk cannot be made to
fail one chosen write on demand, so this is the one place a stand-in is used (the SIGKILL table in
test_sequencer_process.py kills real processes instead). After each fault the log is re-run with
a healthy store and must end byte-identical to an uninterrupted run, with every published
checkpoint backed by tiles present in the store and no entry lost or appended twice. The table
runs for both ways of staging: one bundle object (what S3 and GCS get), and a folder's own,
one file per object linked into place, with full tiles staged while the batch is admitted.
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

N = 300  # over 256: the third batch fills the first tiles, which a folder stages early
VALUES = [f"artifact-{i}" for i in range(N)] + ["bad-1", "bad-2"] + ["artifact-7", "artifact-8"]


class Bundled:
    """A real folder store without ``link_many``: the sequencer stages a batch as one bundle
    object, as it does on S3 and GCS."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "link_many":
            raise AttributeError(name)
        return getattr(self.inner, name)


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
        if name == "link_many" and self.method == "link":
            return self._link_many
        if name != self.method:
            return attr

        def call(key: str, *args: Any, **kw: Any) -> Any:
            return self._write(key, lambda: attr(key, *args, **kw))

        return call

    def _write(self, key: str, write: Any, matching: bool | None = None) -> Any:
        """Do ``write`` of ``key``, unless it is the n-th matching one: then fail, before
        or after writing."""
        if matching is None:
            matching = fnmatch.fnmatch(key, self.pattern)
        if self.fired or not matching or self.seen + 1 < self.nth:
            self.seen += bool(matching and not self.fired)
            return write()
        self.fired = True
        if self.mode == "after":
            write()
        raise StoreError(f"injected fault ({self.mode})", key=key)

    def _put_many(self, items: list[tuple[str, bytes]]) -> None:
        """A batch of puts, one object at a time: the faulty one fails, those before it
        are written, those after it are not."""
        put = self.__getattr__("put")
        for key, data in items:
            put(key, data)

    def _link_many(self, pairs: list[tuple[str, str]]) -> None:
        """Links one at a time, matched by the object they make: the faulty one fails,
        those before it are made, those after it are not."""
        for source, key in pairs:
            self._write(key, lambda p=(source, key): self.inner.link_many([p]))

    def _delete_many(self, keys: list[str]) -> None:
        """A batch delete is one request: it fails as a whole, before or after."""
        matching = [k for k in keys if fnmatch.fnmatch(k, self.pattern)]
        key = matching[0] if matching else ""
        self._write(key, lambda: self.inner.delete_many(keys), bool(matching))


def enqueue_bulk(queue: Any, values: list[str], per_object: int = 80) -> None:
    """The same submissions as bulk queue objects (what `tlog submit --jsonl` writes)."""
    docs = [submission(v)[1] for v in values]
    for i in range(0, len(docs), per_object):
        body = b"\n".join(docs[i : i + per_object]) + b"\n"
        queue.put(bulk_key(body, len(docs[i : i + per_object])), body)


FILL = {"single": enqueue, "bulk": enqueue_bulk}

# The staging bundle's own name, not its staged files' (``<bundle>~<object path>``): it ends in
# "-" and the 64 hex digits of the root, then (on a folder) "-" and a 16-digit nonce.
BUNDLE = "sequencer/staging/*-" + "?" * 64
NAMING = BUNDLE + "-" + "?" * 16

# (store, method, key pattern): every kind of write a batch makes, in protocol order, for each
# way of staging: one bundle object (S3, GCS), or one file per object, linked into place (a folder).
STEPS = {
    "bundle": [
        ("queue", "overwrite", "rejected/*"),  # store a rejection reason
        ("queue", "delete", "pending/*"),  # consume a rejected or duplicate item
        ("store", "put", "sequencer/staging/*"),  # stage
        ("store", "replace", "sequencer/lock"),  # commit point
        ("store", "put", "tile/0/*"),  # apply hash tiles
        ("store", "put", "tile/entries/*"),  # apply bundles
        ("store", "put", "index/*"),  # apply index objects
        ("store", "replace", "checkpoint"),  # publish
        ("store", "delete", "sequencer/staging/*"),  # clean up
    ],
    "files": [
        ("queue", "overwrite", "rejected/*"),
        ("queue", "delete", "pending/*"),
        ("store", "put", "sequencer/staging/*+*~tile~*"),  # stage full tiles as they fill up
        ("store", "put", "sequencer/staging/*-*~tile~*"),  # stage the rest as files, at the end
        ("store", "put", "sequencer/staging/*~index~*"),  # and the index objects
        ("store", "put", NAMING),  # the bundle naming them
        ("store", "replace", "sequencer/lock"),  # commit point
        ("store", "link", "tile/0/*"),  # apply hash tiles
        ("store", "link", "tile/entries/*"),  # apply bundles
        ("store", "link", "index/*"),  # apply index objects
        ("store", "replace", "checkpoint"),  # publish
        ("store", "delete", "sequencer/staging/*~*"),  # clean up the staged files
        ("store", "delete", NAMING),  # then the bundle
    ],
}
STAGING = {"bundle": Bundled, "files": lambda store: store}


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
@pytest.mark.parametrize(("staging", "where", "method", "pattern"),
                         [(staging, *step) for staging, steps in STEPS.items() for step in steps])
@pytest.mark.parametrize("nth", [1, 2])
def test_fault_then_rerun(
    tmp_path: Path,
    references: dict[str, dict[str, bytes]],
    staging: str,
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
    staged = STAGING[staging](store)
    faulty = FaultyStore(staged if where == "store" else queue, method, pattern, mode, nth)
    kw = {"store": faulty} if where == "store" else {"store": staged, "queue": faulty}
    with pytest.raises(TlogError):
        sequencer(cfg, **kw).run()
    assert faulty.fired
    # Whatever was public at the moment of the fault is fully backed by tiles.
    check_published(store, vkey)
    # A healthy re-run repairs everything and ends where an uninterrupted run ends.
    summary = sequencer(cfg, store=staged).run()
    size, root, entries = check_published(store, vkey)
    assert size == summary.size == N
    values = [json.loads(e)["value"] for e in entries]
    assert sorted(values) == sorted(f"artifact-{i}" for i in range(N))  # once each
    assert snapshot(Path(cfg.store)) == references[fill]
    assert list(queue.list("pending/")) == []
    assert sorted(k.split("/")[0] for k in queue.list("rejected/")) == ["rejected"] * 2
    assert list(store.list("sequencer/staging/")) == []
    check_tree(store, size, root)
