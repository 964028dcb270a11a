"""Helpers for the sequencer tests: a log in a folder, simple submissions, whole-log checks."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sequencer.config import LogConfig
from sequencer.lock import CHECKPOINT_KEY, LOCK_KEY, publish_empty_log
from sequencer.pipeline import Sequencer
from tlog.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint
from tlog.errors import MalformedError, NotFoundError, StoreError
from tlog.index import search_key
from tlog.integrate import edge_root, edge_tiles
from tlog.merkle import leaf_hash, tree_root
from tlog.note import generate_key, new_signer, new_verifier, open_note, sign_note
from tlog.storage import open_store
from tlog.tiles import (
    ENTRIES,
    Tile,
    TileHashReader,
    bundles_for_size,
    decode_entry_bundle,
    encode_entry_bundle,
    encode_hash_tile,
    tiles_for_size,
)

ORIGIN = "example.com/testlog"


def simple_admit(docs: list[bytes]) -> list[Any]:
    """Admit {"value": …} as ``tlog.entries.LogEntry`` tuples (entry, leaf hash, index keys);
    reject documents whose value contains "bad"."""
    out: list[Any] = []
    for d in docs:
        value = json.loads(d)["value"]
        if "bad" in value:
            out.append(MalformedError("does not look good", field="value"))
            continue
        entry = json.dumps({"value": value}, sort_keys=True).encode()
        digest = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        out.append((entry, leaf_hash(entry), search_key(digest)))
    return out


def submission(value: str) -> tuple[str, bytes]:
    doc = json.dumps({"type": "test", "value": value}, sort_keys=True).encode()
    return f"pending/{hashlib.sha256(doc).hexdigest()}.json", doc


def make_log(tmp: Path, batch_size: int = 100, store: str | None = None,
             **kw: Any) -> tuple[LogConfig, str, str]:
    skey, vkey = generate_key(ORIGIN)
    (tmp / "log.key").write_text(skey + "\n")
    cfg = LogConfig(
        origin=ORIGIN,
        store=store or str(tmp / "public"),
        queue=str(tmp / "queue"),
        key_file=str(tmp / "log.key"),
        batch_size=batch_size,
        state_dir=str(tmp / "state"),
        site=False,
        **kw,
    )
    publish_empty_log(open_store(cfg.store), ORIGIN, skey)
    return cfg, skey, vkey


def enqueue(queue: Any, values: list[str]) -> list[str]:
    keys = []
    for v in values:
        key, doc = submission(v)
        queue.put(key, doc)
        keys.append(key)
    return keys


def sequencer(cfg: LogConfig, store: Any = None, queue: Any = None, **kw: Any) -> Sequencer:
    return Sequencer(
        cfg,
        store or open_store(cfg.store),
        queue or open_store(cfg.queue),
        admit=kw.pop("admit", simple_admit),
        **kw,
    )


def check_published(store: Any, vkey: str) -> tuple[int, bytes, list[bytes]]:
    """Verify the public checkpoint against the tiles present; return (size, root, entries)."""
    try:
        note = store.get("checkpoint")
    except NotFoundError:
        return 0, b"", []
    cp = parse_checkpoint(open_note(note, [new_verifier(vkey)]).text)
    return cp.size, cp.root_hash, check_tree(store, cp.size, cp.root_hash)


def check_tree(store: Any, size: int, root: bytes) -> list[bytes]:
    """Every tile and bundle of the tree exists, the root matches, every entry hashes into it."""

    def fetch(tiles: Any) -> list[bytes]:
        data = store.get_many([t.path for t in tiles])
        missing = [t.path for t, d in zip(tiles, data, strict=True) if d is None]
        if missing:
            raise StoreError(f"missing tiles {missing}")
        return data

    for t in tiles_for_size(size) + bundles_for_size(size):
        assert store.exists(t.path), t.path
    reader = TileHashReader(size, root, fetch)
    assert tree_root(size, reader) == root
    entries: list[bytes] = []
    for b in bundles_for_size(size):
        entries += decode_entry_bundle(store.get(b.path), b.width)
    assert len(entries) == size
    leaves = reader.read_hashes([(0, i) for i in range(size)]) if size else []
    assert [leaf_hash(e) for e in entries] == leaves
    return entries


def snapshot(folder: Path | str) -> dict[str, bytes]:
    """The final tree (every tile and bundle of the committed size) and the index's records.

    Intermediate partial tiles depend on where batches ended, so they are not compared.
    """
    from tlog import index as tindex

    store = open_store(str(folder))
    lock = store.get("sequencer/lock")
    cp = parse_checkpoint(lock.split(b"\n\n")[0].decode() + "\n")
    out = {t.path: store.get(t.path) for t in tiles_for_size(cp.size) + bundles_for_size(cp.size)}
    out["root"] = cp.root_hash
    m = tindex.parse_manifest(store.get(tindex.manifest_path(cp.size)))
    refs = [r for shard in m.levels for r in shard if r is not None]
    records = sorted(rec for r in refs
                     for rec in tindex.decode_records(store.get(r.path), r.record))
    out["index-records"] = b"".join(k + i.to_bytes(8, "big") for k, i in records)
    return out


def synthetic_right_edge(store: Any, origin: str, skey: str, size: int) -> None:
    """Make ``store`` (a log made by ``make_log``) hold a tree of ``size`` entries of which only
    the right edge exists: real leaf hashes of the entries of the partial bundle, random hashes
    above, and the lock and checkpoint signed over the root they imply. A sequencer that read
    anything else of the tree would fail on a missing object."""
    entries = [b"synthetic entry %d" % i for i in range(size % 256)]
    edge: dict[Tile, bytes] = {}
    for t in edge_tiles(size):
        if t.level == 0:
            edge[t] = encode_hash_tile([leaf_hash(e) for e in entries])
        else:
            edge[t] = encode_hash_tile([os.urandom(32) for _ in range(t.width)])
        store.put(t.path, edge[t])
    store.put(Tile(ENTRIES, size // 256, size % 256).path, encode_entry_bundle(entries))
    note = sign_note(format_checkpoint(Checkpoint(origin, size, edge_root(size, edge))),
                     new_signer(skey))
    for key in (LOCK_KEY, CHECKPOINT_KEY):
        _, version = store.fetch(key)
        store.replace(key, version, note)
