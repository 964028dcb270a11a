"""Index maintenance for the sequencer: index objects read through a local write-through
copy (memory-mapped for dedup lookups, batch after batch), the manifest of a tree, and the
housekeeping that deletes manifests beyond ``index_keep`` and what only they name."""

from __future__ import annotations

import contextlib
import itertools
import logging
import mmap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tlog import index as tindex
from tlog.errors import NotFoundError, TlogError
from tlog.storage.files import write_atomic

__all__ = ["IndexCache"]

log = logging.getLogger("tiledlog.sequencer")


class IndexCache:
    """The index objects of the log at ``store``: a folder log is its own local copy; any
    other keeps one in ``cache_dir``. ``keep``: index manifests kept (0: all)."""

    def __init__(self, store: Any, cache_dir: Path, keep: int) -> None:
        self.store, self.cache_dir, self.keep = store, cache_dir, keep
        self.folder: Callable[[str], Path] | None = getattr(store, "local_path", None)
        self.views: dict[str, tindex.LevelView] = {}

    def local(self, path: str) -> Path:
        return self.folder(path) if self.folder else self.cache_dir / path

    def read(self, path: str) -> bytes:
        """Immutable index objects, read through a local write-through cache."""
        try:
            return self.local(path).read_bytes()
        except FileNotFoundError:
            data = self.store.get(path)
            self.put(path, data)
            return data

    def view(self, ref: tindex.LevelRef) -> tindex.LevelView:
        """An index object for lookups: its local copy mapped into memory, kept open while
        the index references it (dedup searches touch a few pages of each, batch after
        batch, however large the levels grow)."""
        view = self.views.get(ref.path)
        if view is None:
            data = self._map(ref.path)
            if isinstance(data, mmap.mmap) and hasattr(mmap, "MADV_RANDOM"):
                data.madvise(mmap.MADV_RANDOM)  # lookups touch scattered pages: without this,
                # read-ahead maps whole levels in
            view = tindex.level_view(data, ref.record, fenced=True)
            self.views[ref.path] = view
        return view

    def _map(self, path: str) -> tindex.Buffer:
        """An index object's local copy (fetched first if need be), mapped into memory: never
        read whole (an L3 at 10^8 entries is 250 MB)."""
        local = self.local(path)
        if not local.exists():
            self.read(path)
        if not local.stat().st_size:
            return b""
        with open(local, "rb") as f:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def mapped(self, path: str) -> tindex.Buffer:
        """An index object's bytes for a merge: its local copy mapped (not a second copy in
        memory) and read ahead, as a merge reads it from end to end; a mapping of its own, so
        that lookups keep theirs random."""
        data = self._map(path)
        if isinstance(data, mmap.mmap) and hasattr(mmap, "MADV_SEQUENTIAL"):
            data.madvise(mmap.MADV_SEQUENTIAL)
        return data  # unmapped when the merge drops it

    def forget(self, manifest: tindex.Manifest) -> None:
        """Drop the index objects the new manifest no longer references."""
        keep = set(tindex.index_paths(manifest))
        for path in [p for p in self.views if p not in keep]:
            data = self.views.pop(path).data
            if isinstance(data, mmap.mmap):
                data.close()

    def put(self, path: str, data: bytes) -> None:
        if self.folder:
            return
        local = self.cache_dir / path
        local.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(local, data, durable=False)  # a cache: the store has every object

    def manifest(self, size: int) -> tindex.Manifest:
        try:
            return tindex.parse_manifest(self.read(tindex.manifest_path(size)))
        except NotFoundError:
            if size == 0:
                return tindex.empty_manifest()
            raise

    def collect(self) -> None:
        """Delete index manifests older than the newest ``index_keep``, and the level objects
        that only they name: every batch supersedes some, and kept forever they would soon
        outweigh the log. A level object is named by a run of consecutive manifests, so what
        an old manifest names and its successor does not, no later one names. Clients read
        the manifest of the checkpoint they just fetched; housekeeping that fails is retried
        after the next batch."""
        keep = self.keep
        if not keep:
            return
        prefix = tindex.manifest_path(0)[:-1]
        try:
            sizes = sorted(int(k[len(prefix):]) for k in self.store.list(prefix)
                           if k[len(prefix):].isdigit())
            if len(sizes) <= keep:
                return
            for old, following in itertools.pairwise(sizes[: len(sizes) - keep + 1]):
                gone = set(tindex.index_paths(self.manifest(old))) - set(
                    tindex.index_paths(self.manifest(following)))
                self.store.delete_many(sorted(gone))  # the objects first, then what names them
                self.store.delete(tindex.manifest_path(old))
                for path in [*gone, tindex.manifest_path(old)]:
                    if not self.folder:
                        with contextlib.suppress(OSError):
                            (self.cache_dir / path).unlink()
        except TlogError as e:
            log.warning("index housekeeping failed (retried after the next batch): %s", e)
