"""Build a valid static log (C2SP tlog-tiles) in a folder straight from entries, no sequencer.

``TestLog`` keeps the right edge in memory, so a log can grow in steps and publish a signed
checkpoint after each (for consistency and rollback tests). Files are written directly under
the folder with the layout the sequencer uses: ``checkpoint``, ``tile/…``, ``tile/entries/…``
and, optionally, the static lookup index ``index/…``. A million synthetic entries take a few
seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tlog.checkpoint import Checkpoint, format_checkpoint
from tlog.index import empty_manifest, format_manifest, leaf_key, manifest_path, update_index
from tlog.integrate import edge_tiles, integrate, integrate_bundles
from tlog.merkle import EMPTY_ROOT, leaf_hash
from tlog.note import Signer, generate_key, new_signer, sign_note
from tlog.tiles import TILE_WIDTH

ORIGIN = "example.com/testlog"

__all__ = ["ORIGIN", "TestLog", "synthetic_entries"]


def synthetic_entries(n: int, start: int = 0, tag: bytes = b"entry") -> list[bytes]:
    """Cheap distinct entries: ``b"entry 0"``, ``b"entry 1"``…"""
    return [b"%s %d" % (tag, i) for i in range(start, start + n)]


class TestLog:
    """A growing log in ``root``; ``append`` then ``publish`` a signed checkpoint."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        origin: str = ORIGIN,
        skey: str | None = None,
        index: bool = True,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.origin = origin
        if skey is None:
            skey, _ = generate_key(origin)
        self.skey = skey
        self.signer = new_signer(skey)
        self.vkey = self.signer.verifier().vkey
        self.size = 0
        self.root_hash = EMPTY_ROOT
        self.entries: list[bytes] = []
        self._edge: dict = {}
        self._partial_bundle: bytes | None = None
        self._index = empty_manifest(0) if index else None

    def _write(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def _read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def append(self, entries: Sequence[bytes]) -> None:
        """Integrate entries: write new tiles, bundles and index objects (no checkpoint)."""
        if not entries:
            return
        hashes = [leaf_hash(e) for e in entries]
        result = integrate(self.size, self._edge, hashes)
        bundles = self._bundles(entries)
        for tile, data in (*result.tiles.items(), *bundles.items()):
            self._write(tile.path, data)
        new_size = result.size
        self._edge = {t: result.tiles.get(t) or self._edge[t] for t in edge_tiles(new_size)}
        w = new_size % TILE_WIDTH
        self._partial_bundle = next((d for t, d in bundles.items() if t.width == w), None)
        if self._index is not None:
            records = [(leaf_key(h), self.size + i) for i, h in enumerate(hashes)]
            upd = update_index(self._index, records, new_size, self._read)
            for key, data in upd.objects.items():
                self._write(key, data)
            self._index = upd.manifest
            self._write(manifest_path(new_size), format_manifest(upd.manifest))
        self.entries.extend(entries)
        self.size, self.root_hash = new_size, result.root

    def _bundles(self, entries: Sequence[bytes]) -> dict:
        # integrate_bundles re-slices its whole input per bundle; feed it one bundle at a time.
        out: dict = {}
        size, partial, pos = self.size, self._partial_bundle, 0
        while pos < len(entries):
            take = TILE_WIDTH - size % TILE_WIDTH
            chunk = entries[pos : pos + take]
            new = integrate_bundles(size, partial, chunk)
            out.update(new)
            size, pos = size + len(chunk), pos + len(chunk)
            partial = next((d for t, d in new.items() if not t.is_full), None)
        return out

    def checkpoint_text(self) -> str:
        return format_checkpoint(Checkpoint(self.origin, self.size, self.root_hash))

    def sign(self, *cosigners: Signer) -> bytes:
        """The signed checkpoint note of the current tree (log signature plus cosignatures)."""
        return sign_note(self.checkpoint_text(), self.signer, *cosigners)

    def publish(self, *cosigners: Signer) -> bytes:
        """Sign and write ``checkpoint``; returns the note."""
        note = self.sign(*cosigners)
        self._write("checkpoint", note)
        return note

    def prune_partials(self) -> list[str]:
        """Delete every partial tile and bundle whose full tile exists (a log MAY do this)."""
        gone = []
        for p in sorted((self.root / "tile").rglob("*")):
            if p.is_file() and p.parent.name.endswith(".p"):
                full = p.parent.with_name(p.parent.name[: -len(".p")])
                if full.is_file():
                    p.unlink()
                    gone.append(str(p.relative_to(self.root)))
        return gone

    @classmethod
    def build(
        cls, root: str | os.PathLike[str], entries: Iterable[bytes], **kw: object
    ) -> TestLog:
        """A log holding ``entries`` with its checkpoint published."""
        log = cls(root, **kw)  # type: ignore[arg-type]
        log.append(list(entries))
        log.publish()
        return log


def plant_index_lie(store: Any, size: int, key: bytes, index: int) -> None:
    """Rewrite the index of tree ``size`` so that it also names entry ``index`` for ``key``
    (a lying or broken index, as real bytes in the store, built with the index's own code)."""
    from tlog import index as ix

    manifest = ix.parse_manifest(store.get(ix.manifest_path(size)))
    shards: list[list[bytes]] = [[] for _ in range(ix.SHARDS)]
    shards[key[0] >> 4] = [ix.encode_record(key, index)]
    lie = ix.merge_shards(manifest, shards, size, store.get)
    for path, data in lie.objects.items():
        store.overwrite(path, data)
    store.overwrite(ix.manifest_path(size), ix.format_manifest(lie.manifest))


def write_v1_index(put: Any, size: int, records: Iterable[tuple[bytes, int]]) -> list[str]:
    """Write ``records`` (32-byte key, index) as the index of tree ``size`` exactly as tiledlog
    wrote it before short records (manifest version 1): whole keys and 64-bit indexes in
    40-byte records, here all in each shard's L3, with fence keys every ``stride`` records.
    ``put(path, data)`` writes an object; returns the level objects' paths."""
    import base64
    import json

    from tlog import index as ix

    by_shard: list[list[bytes]] = [[] for _ in range(ix.SHARDS)]
    for key, i in records:
        by_shard[key[0] >> 4].append(key + i.to_bytes(8, "big"))
    shards, paths = [], []
    for s, recs in enumerate(by_shard):
        if not recs:
            shards.append([None, None, None])
            continue
        data = b"".join(sorted(set(recs)))
        n = len(data) // 40
        stride = max(512, -(-n // ix.MAX_FENCES))
        fences = b"".join(data[j * 40 : j * 40 + 8] for j in range(0, n, stride))
        path = f"index/3/{s:x}/{size}"
        put(path, data)
        paths.append(path)
        shards.append([None, None, {"path": path, "records": n, "stride": stride,
                                    "fences": base64.b64encode(fences).decode()}])
    doc = {"version": 1, "size": size, "t1": 4096, "t2": 131072, "shards": shards}
    put(manifest_path(size), json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    return paths
