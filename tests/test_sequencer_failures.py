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

from tlog.errors import ConflictError, StoreError, TlogError
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
        if self.mode in ("after", "conflict"):
            write()
        if self.mode == "conflict":
            # What S3 (412) and GCS (412) answer when a conditional write is retried after
            # its first attempt landed: the condition no longer holds, because of itself.
            raise ConflictError("precondition failed (injected: the retry of a landed write)",
                                key=key)
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
        ("store", "put", "tile/1/*"),  # and those above level 0
        ("store", "put", "tile/entries/*"),  # apply bundles
        ("store", "put", "index/*"),  # apply index objects
        ("store", "replace", "checkpoint"),  # publish
        ("store", "delete", "sequencer/staging/*"),  # clean up
        ("store", "delete", "index/*"),  # index housekeeping (INDEX_KEEP)
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
        ("store", "link", "tile/1/*"),  # and those above level 0
        ("store", "link", "tile/entries/*"),  # apply bundles
        ("store", "link", "index/*"),  # apply index objects
        ("store", "replace", "checkpoint"),  # publish
        ("store", "delete", "sequencer/staging/*~*"),  # clean up the staged files
        ("store", "delete", NAMING),  # then the bundle
        ("store", "delete", "index/*"),  # index housekeeping (INDEX_KEEP)
    ],
}
STAGING = {"bundle": Bundled, "files": lambda store: store}
INDEX_KEEP = 2  # so that housekeeping deletes superseded index objects within the table's run


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The store after an uninterrupted run, per way of filling the queue."""
    out = {}
    for fill, put in FILL.items():
        tmp = tmp_path_factory.mktemp(f"reference-{fill}")
        cfg, _, _ = make_log(tmp, batch_size=100, index_keep=INDEX_KEEP)
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
    if nth > 1 and pattern.startswith("tile/1/"):
        pytest.skip("a 300-entry log writes one level-1 tile")
    cfg, _, vkey = make_log(tmp_path, batch_size=100, index_keep=INDEX_KEEP)
    _fault_then_rerun(cfg, vkey, references[fill], STAGING[staging], fill, where, method, pattern,
                      mode, nth, fails=not _housekeeping(method, pattern))


def _housekeeping(method: str, pattern: str) -> bool:
    """Index housekeeping runs after publishing: its failure is a warning, retried after the
    next batch, not a failed run."""
    return (method, pattern) == ("delete", "index/*")


# The writes whose retry, after a first attempt that landed, comes back as a conflict (412):
# the conditional ones (issue 18 item 11). The sequencer must look before it gives up.
CONDITIONAL = [(staging, *step) for staging, steps in STEPS.items() for step in steps
               if step[1] == "replace"]


@pytest.mark.parametrize(("staging", "where", "method", "pattern"), CONDITIONAL)
def test_a_landed_retry_that_reports_a_conflict(
    tmp_path: Path, references: dict[str, dict[str, bytes]], staging: str, where: str,
    method: str, pattern: str,
) -> None:
    cfg, _, vkey = make_log(tmp_path, batch_size=100, index_keep=INDEX_KEEP)
    _fault_then_rerun(cfg, vkey, references["bulk"], STAGING[staging], "bulk", where, method,
                      pattern, "conflict", 1, fails=False)


# Every bundle step fails before or after its write; conditional ones also as a landed retry.
BUCKET_ROWS = [(*step, mode) for step in STEPS["bundle"] for mode in ("before", "after", "conflict")
               if mode != "conflict" or step[1] == "replace"]


@pytest.mark.parametrize(("where", "method", "pattern", "mode"), BUCKET_ROWS)
@pytest.mark.parametrize("backend", ["s3", "gcs"])
def test_fault_then_rerun_on_buckets(
    tmp_path: Path, references: dict[str, dict[str, bytes]], request: pytest.FixtureRequest,
    backend: str, where: str, method: str, pattern: str, mode: str,
) -> None:
    """The bundle-staging table on moto S3 and on GCS (fake-gcs-server), which enforce the
    conditional writes, faults injected around the real stores (issue 18 items 11 and 13)."""
    bucket = request.getfixturevalue(f"{backend}_bucket")
    scheme = "s3" if backend == "s3" else "gs"
    cfg, _, vkey = make_log(tmp_path, batch_size=100, index_keep=INDEX_KEEP,
                            store=f"{scheme}://{bucket}/log")
    _fault_then_rerun(cfg, vkey, references["bulk"], lambda store: store, "bulk", where, method,
                      pattern, mode, 1,
                      fails=mode != "conflict" and not _housekeeping(method, pattern))


def _fault_then_rerun(cfg: Any, vkey: str, reference: dict[str, bytes], staging: Any, fill: str,
                      where: str, method: str, pattern: str, mode: str, nth: int,
                      fails: bool = True) -> None:
    """One row of the table: a run with the fault, then a healthy run; the log must end as an
    uninterrupted run ends. A landed write reported as a conflict need not fail the run."""
    store, queue = open_store(cfg.store), open_store(cfg.queue)
    FILL[fill](queue, VALUES)
    staged = staging(store)
    faulty = FaultyStore(staged if where == "store" else queue, method, pattern, mode, nth)
    kw = {"store": faulty} if where == "store" else {"store": staged, "queue": faulty}
    if fails:
        with pytest.raises(TlogError):
            sequencer(cfg, **kw).run()
    else:
        try:
            sequencer(cfg, **kw).run()
        except TlogError as e:  # allowed, if it says so plainly; the log must still be whole
            assert "Traceback" not in str(e)
    assert faulty.fired
    # Whatever was public at the moment of the fault is fully backed by tiles.
    check_published(store, vkey)
    # A healthy re-run repairs everything and ends where an uninterrupted run ends.
    summary = sequencer(cfg, store=staged).run()
    size, root, entries = check_published(store, vkey)
    assert size == summary.size == N
    values = [json.loads(e)["value"] for e in entries]
    assert sorted(values) == sorted(f"artifact-{i}" for i in range(N))  # once each
    assert snapshot(cfg.store) == reference
    assert list(queue.list("pending/")) == []
    assert sorted(k.split("/")[0] for k in queue.list("rejected/")) == ["rejected"] * 2
    assert list(store.list("sequencer/staging/")) == []
    check_tree(store, size, root)


class AnswerDropper:
    """A TCP proxy on loopback in front of a real witness: the ``drop``-th request it relays
    reaches the witness, which acts on it, and its answer is never passed back (the
    connection is reset instead): an answer lost on the way, which no healthy server can be
    made to produce on demand. ``down`` refuses every connection instead (a witness that is
    unreachable)."""

    def __init__(self, upstream: str, drop: int = 0, down: bool = False) -> None:
        import socket
        import threading

        host, port = upstream.removeprefix("http://").split(":")
        self.upstream, self.drop, self.down, self.requests = (host, int(port)), drop, down, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: Any) -> None:
        import socket
        import struct

        if self.down:
            client.close()
            return
        with client, socket.create_connection(self.upstream) as up:
            while True:  # one request, one answer, as long as the client keeps the connection
                request = _read_http(client)
                if request is None:
                    return
                self.requests += 1
                up.sendall(request)
                answer = _read_http(up)
                if answer is None:
                    return
                if self.requests == self.drop:  # the witness acted; its answer is lost
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                client.sendall(answer)

    def close(self) -> None:
        self.listener.close()


def _read_http(sock: Any) -> bytes | None:
    """One HTTP/1.1 message (head and Content-Length body) from ``sock``; None at its end."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("fault", ["down", "answer lost"])
def test_witness_fault_then_rerun(tmp_path: Path, references: dict[str, dict[str, bytes]],
                                  fault: str) -> None:
    """The witness step (issue 18 item 11), against a real `tlog witness serve`: unreachable
    while the batches commit, or its cosignature of the first checkpoint lost on the way back.
    Nothing unwitnessed is published under require_witnesses; the next run (or batch)
    publishes the tree with the witness's cosignature, which the witness gave once per tree."""
    import dataclasses
    import subprocess
    import sys

    from servers import witness_server

    from sequencer.config import WitnessConfig
    from sequencer.witnessing import make_cosigner
    from tlog.cosignature import parse_any_verifier
    from tlog.note import open_note

    cfg, _, vkey = make_log(tmp_path, batch_size=100, index_keep=INDEX_KEEP)
    wdir = tmp_path / "witness"
    wdir.mkdir()
    tlog = str(Path(sys.executable).parent / "tlog")
    subprocess.run([tlog, "witness", "keygen", "failures.example/w", "--out", "key"], cwd=wdir,
                   check=True, capture_output=True)
    subprocess.run([tlog, "witness", "add-log", "--origin", cfg.origin, "--vkey", vkey],
                   cwd=wdir, check=True, capture_output=True)
    wkey = (wdir / "key.pub").read_text().strip()
    with witness_server(wdir / "witness.toml") as url:
        proxy = AnswerDropper(url, drop=1 if fault == "answer lost" else 0, down=fault == "down")
        cfg = dataclasses.replace(
            cfg, witnesses=(WitnessConfig("failures.example/w", proxy.url, wkey),),
            witness_threshold=1, require_witnesses=True, witness_timeout=5.0)
        store, queue = open_store(cfg.store), open_store(cfg.queue)
        FILL["bulk"](queue, VALUES)
        first = sequencer(cfg, store=Bundled(store), cosign=make_cosigner(cfg, store)).run()
        size, _, _ = check_published(store, vkey)  # what is public is whole...
        if fault == "down":
            assert not first.published and size == 0  # ...and nothing unwitnessed went public
            assert "failures.example/w" in first.witnesses
            proxy.down = False
        else:
            assert proxy.requests >= 2  # the next batch's request found the witness ahead
        again = sequencer(cfg, store=Bundled(store), cosign=make_cosigner(cfg, store)).run()
        proxy.close()
    assert again.published
    size, root, entries = check_published(store, vkey)
    assert size == N == len({json.loads(e)["value"] for e in entries})
    assert snapshot(cfg.store) == references["bulk"]
    note = open_note(store.get("checkpoint"), [parse_any_verifier(vkey), parse_any_verifier(wkey)])
    assert sorted(s.name for s in note.sigs) == sorted([cfg.origin, "failures.example/w"])
    check_tree(store, size, root)


@pytest.mark.parametrize("mode", ["before", "after"])
def test_site_fault_then_rerun(tmp_path: Path, references: dict[str, dict[str, bytes]],
                               mode: str) -> None:
    """The site step (issue 18 item 11): a page write fails. The log is not held back (the
    pages are a view of it, a warning says they are stale) and the next run, even one with
    nothing queued, rebuilds them for the published tree."""
    import dataclasses

    from sequencer.cli import site_builder

    def site_log(where: Path) -> tuple[Any, str, Any]:
        where.mkdir()
        cfg, _, vkey = make_log(where, batch_size=100, index_keep=INDEX_KEEP)
        cfg = dataclasses.replace(cfg, site=True, vkey=cfg.verifier_key())
        FILL["bulk"](open_store(cfg.queue), VALUES)
        return cfg, vkey, open_store(cfg.store)

    # How many times a healthy run writes the home page: the fault hits the last of them.
    cfg, _, store = site_log(tmp_path / "count")
    counter = FaultyStore(store, "overwrite", "index.html", mode, nth=10**9)
    sequencer(cfg, store=Bundled(store), after_publish=site_builder(cfg, counter)).run()
    cfg, vkey, store = site_log(tmp_path / "log")
    faulty = FaultyStore(store, "overwrite", "index.html", mode, nth=counter.seen)
    sequencer(cfg, store=Bundled(store), after_publish=site_builder(cfg, faulty)).run()
    assert faulty.fired
    size, _, _ = check_published(store, vkey)
    assert size == N
    shown = f"<th>Tree size</th><td>{N}</td>"
    assert (shown in store.get("index.html").decode()) == (mode == "after")  # stale if lost
    sequencer(cfg, store=Bundled(store), after_publish=site_builder(cfg, store)).run()
    assert shown in store.get("index.html").decode()
    assert snapshot(cfg.store) == references["bulk"]
