"""One sequencing run: the queue, batch by batch, into the log (README steps 1-9).

The phases live in their own modules: reading the queue and admission (``intake``), building
a batch (``batch``), the commit protocol and recovery (``commit``), index maintenance
(``index_cache``). This module runs them in order: read the committed tree (step 1), stream
admission results (2), reject and drop duplicates (3), integrate, index and sign (4), then
hand the batch to ``CommitProtocol.carry_out`` (5-9), and go on with the next batch.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tlog import index as tindex
from tlog.checkpoint import Checkpoint, format_checkpoint
from tlog.client.admission import load_roots
from tlog.entries.hashedrekord import PURE_ED25519_REFUSED, is_pure_ed25519
from tlog.errors import ConfigError, MalformedError, NotFoundError, TlogError, VerificationError
from tlog.integrate import edge_root, edge_tiles
from tlog.note import new_signer, new_verifier, sign_note, vkey_for_skey
from tlog.queue import BULK_SUFFIX
from tlog.tiles import ENTRIES, Tile, decode_entry_bundle

from .batch import Draft, Stage, bundle_tile
from .commit import CommitProtocol, Cosign, StagedBatch
from .config import LogConfig
from .crash import crashpoint
from .index_cache import IndexCache
from .intake import Chunk, Intake, plain_stream, pool_stream, single_items
from .lock import LOCK_KEY, Committed, LostRace, key_label, read_committed
from .staging import STAGING_PREFIX, staged_file, staging_path
from .summary import BatchStats, RunSummary

__all__ = ["Sequencer"]

log = logging.getLogger("tiledlog.sequencer")


class Sequencer:
    """Drains a queue into a log. Construct once; call ``run`` once or repeatedly (daemon)."""

    def __init__(
        self,
        cfg: LogConfig,
        store: Any,
        queue: Any,
        *,
        admit: Callable[[Sequence[bytes]], list[Any]] | None = None,
        cosign: Cosign | None = None,
        after_publish: Callable[[bytes], None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.cfg, self.store, self.queue = cfg, store, queue
        self.signer = new_signer(cfg.signer_key())
        self.verifier = new_verifier(vkey_for_skey(cfg.signer_key()))
        if cfg.vkey and cfg.vkey != self.verifier.vkey:
            raise ConfigError(
                f"{cfg.path or 'config'}: vkey {key_label(cfg.vkey)} is not the public key "
                f"of the signer key ({key_label(self.verifier.vkey)}); set vkey to the "
                "signer's .pub, or point key.file/key.env at the log's own key")
        workers = cfg.workers or os.cpu_count() or 1
        self.intake = Intake(cfg, queue, workers)
        roots = load_roots(cfg.x509_roots) if cfg.x509_roots else ()
        self._stream = plain_stream(admit) if admit else pool_stream(workers, roots)
        self.index = IndexCache(store, cfg.state_path() / "index", cfg.index_keep)
        # A public tree with the cosignatures the policy asks for (at least one) is complete:
        # an idle run does not ask the others again (a witness that is down would cost every
        # run its timeout; the next tree asks them all).
        complete = min(len(cfg.witnesses), max(cfg.witness_threshold, 1))
        self.protocol = CommitProtocol(store, queue, self.verifier, self.index, cosign,
                                       after_publish, complete)
        self._progress = progress
        self._edge: dict[Tile, bytes] | None = None
        self._bundle: bytes | None = None

    # ----- the run -----------------------------------------------------------------------

    def run(
        self, max_entries: int | None = None, should_stop: Callable[[], bool] | None = None
    ) -> RunSummary:
        """Finish any committed-but-unapplied batch, then drain the queue batch by batch."""
        started = time.monotonic()
        for store in {id(s): s for s in (self.store, self.queue)}.values():
            sweep = getattr(store, "sweep_temporary", None)  # a folder: writes that died
            if sweep is not None:
                sweep()
        # 1. The committed tree, any batch a run that died had committed, the right edge.
        committed = read_committed(self.store, self.verifier, self.cfg.origin)
        summary = RunSummary(
            self.cfg.origin, committed.checkpoint.size, committed.checkpoint.root_hash.hex()
        )
        summary.recovered = self.protocol.recover(committed, summary)
        self._load_edge(committed.checkpoint)
        self._last = committed
        # Documents stream through admission without a pause between batches: while one
        # batch is committed, the workers go on verifying the next (admission only reads the
        # queue; rejections are filed as results are consumed, and are final whatever happens
        # to either batch). Each batch is built as its results arrive, from the committed
        # state of the one before.
        self.intake.taken = set()
        self.intake.strays = 0
        stream = self._stream(self.intake.feed(max_entries, should_stop))
        try:
            self._drain(stream, summary, should_stop)
        except LostRace as e:
            summary.lost_race = _lost_message(summary, e.pending)
        except NotFoundError as e:
            # An index object of the tree this run built on is gone: housekeeping by a
            # sequencer that committed since (index_keep) removed it. That is a lost race too.
            if self._lock_version() == self._last.version:
                raise
            summary.lost_race = _lost_message(summary, f"its batch in progress ({e})")
        finally:
            stream.close()  # unconsumed results are dropped: their items stay queued
        summary.stats.rejected += self.intake.strays
        summary.size = self._last.checkpoint.size
        summary.root = self._last.checkpoint.root_hash.hex()
        summary.seconds = time.monotonic() - started
        _release_memory()
        return summary

    def _drain(self, stream: Iterator[tuple[Chunk, Sequence[Any]]], summary: RunSummary,
               should_stop: Callable[[], bool] | None) -> None:
        """Build and commit batches from the admission stream until it ends."""
        draft: Draft | None = None
        for chunk, results in stream:
            if draft is None:
                base = self._last
                nonce = os.urandom(8).hex()
                draft = Draft(base, self.index.manifest(base.checkpoint.size), self._edge or {},
                              self._bundle, chunk.keys or [],
                              self._stager(base.checkpoint.size, nonce), nonce)
                draft.counts = _counts(self.store, self.queue)
            self._add(draft, chunk.items, results)
            if chunk.last:
                self._last, stats = self._batch(draft, summary)
                summary.stats.add(stats)
                summary.batches += 1
                draft = None
                if should_stop and should_stop():
                    break  # at a batch boundary; what was read ahead stays queued

    def _lock_version(self) -> str | None:
        try:
            return self.store.fetch(LOCK_KEY)[1]
        except TlogError:
            return None

    # ----- one batch ---------------------------------------------------------------------

    def _load_edge(self, cp: Checkpoint) -> None:
        """Read the right edge of the committed tree and check it against the signed root."""
        tiles = edge_tiles(cp.size)
        btile = bundle_tile(cp.size)
        paths = [t.path for t in tiles] + ([btile.path] if btile else [])
        data = self.store.get_many(paths)
        missing = [p for p, d in zip(paths, data, strict=True) if d is None]
        if missing:
            raise TlogError(f"right edge of tree {cp.size} is missing from the store: {missing}")
        edge = dict(zip(tiles, data[: len(tiles)], strict=True))
        if edge_root(cp.size, edge) != cp.root_hash:
            raise VerificationError(
                f"the stored right-edge tiles of tree {cp.size} do not hash to its signed root"
            )
        self._edge = edge
        self._bundle = data[-1] if btile else None

    def _stager(self, base: int, nonce: str) -> Stage | None:
        """On a folder, how a batch on the tree of ``base`` stages objects before it is
        done: as files ``<base>+<nonce>~<path>`` (the nonce keeps racing sequencers apart),
        later linked into place."""
        if not getattr(self.store, "link_many", None):
            return None
        prefix = f"{STAGING_PREFIX}{base}+{nonce}"

        def stage(objects: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
            pairs = [(staged_file(prefix, path), path) for path, _ in objects]
            self.store.put_many([(f, data) for (f, _), (_, data) in zip(pairs, objects,
                                                                       strict=True)])
            return pairs

        return stage

    def _add(self, draft: Draft, items: list[tuple[str, bytes]], results: list[Any]) -> None:
        """Steps 3-4 for one chunk of the batch: file rejections (final whatever happens to
        the batch), drop exact duplicates (within the batch, then against the log's
        leaf-hash index), assign indexes and integrate from the right edge (pure)."""
        new: list[tuple[str, Any]] = []
        pure_ok = self.cfg.allow_pure_ed25519
        for (item, doc), res in zip(items, results, strict=True):
            draft.submissions += 1
            if not pure_ok and not isinstance(res, TlogError) and is_pure_ed25519(res[0]):
                res = MalformedError(PURE_ED25519_REFUSED, field="hashedrekord.key_details")
            if isinstance(res, TlogError):
                self.intake.reject(item, doc, str(res))
                draft.rejected += 1
            elif res[1] in draft.seen:
                draft.dupes.append(item)
            else:
                draft.seen.add(res[1])
                new.append((item, res))
        if not new:
            return
        found = tindex.lookup_many(draft.manifest, [r[1] for _, r in new], self.index.view)
        if found:
            found = self._confirmed(found, draft.base.checkpoint.size)
        if found:
            # Already in the committed log: safe to drop now (bulk objects go at the end).
            known = [i for i, r in new if r[1] in found]
            self.queue.delete_many(single_items(known))
            draft.known += len(known)
            new = [(i, r) for i, r in new if r[1] not in found]
        if new:
            draft.append(new)

    def _confirmed(self, found: dict[bytes, list[int]], size: int) -> dict[bytes, list[int]]:
        """The index's candidates that the log's own level-0 tiles confirm: a submission is
        dropped as a duplicate only if an entry of the committed tree has its leaf hash. A
        candidate filed under a key that only shares the prefix the index keeps (its leaf hash
        or a search key) is a collision; anything else is a broken index: said, and the
        submission is logged (again, at worst), never lost on the index's word."""
        tiles = {i // 256 for indexes in found.values() for i in indexes if i < size}
        paths = {n: Tile(0, n, min(256, size - n * 256)).path for n in tiles}
        data = dict(zip(paths, self.store.get_many(list(paths.values())), strict=True))
        out = {}
        for leaf, indexes in found.items():
            held = {i: t[i % 256 * 32 : i % 256 * 32 + 32] for i in indexes
                    if i < size and (t := data.get(i // 256)) is not None}
            good = [i for i, h in held.items() if h == leaf]
            if good:
                out[leaf] = good
            elif len(held) < len(indexes) or not all(
                    tindex.same_prefix(leaf, h) or self._filed_near(leaf, i, size)
                    for i, h in held.items()):
                log.warning("the index names entries %s for leaf hash %s, but the log's tiles "
                            "hold other hashes there: the index is broken; the submission is "
                            "logged rather than dropped", indexes[:8], leaf.hex())
        return out

    def _filed_near(self, key: bytes, index: int, size: int) -> bool:
        """Whether entry ``index`` is filed under a key sharing ``key``'s prefix (one of its
        search keys: a collision, not a broken index). Read from its entry bundle; only a
        candidate whose leaf hash differs even in the prefix comes here."""
        from tlog.entries import entry_index_keys

        n = index // 256
        for width in dict.fromkeys((min(256, size - n * 256), 256)):  # partial, else full
            try:
                entry = decode_entry_bundle(self.store.get(Tile(ENTRIES, n, width).path),
                                            width)[index % 256]
                break
            except NotFoundError:
                continue
            except (MalformedError, IndexError):
                return False
        else:
            return False
        return any(tindex.same_prefix(key, k) for k in entry_index_keys(entry))

    def _batch(self, draft: Draft, summary: RunSummary) -> tuple[Committed, BatchStats]:
        """Step 4's end once the batch is admitted (merge the index, sign the checkpoint),
        then steps 5-9 through the commit protocol."""
        draft.flush()
        crashpoint("admitted")
        stats = BatchStats(rejected=draft.rejected, duplicates=len(draft.dupes) + draft.known)
        bulk = [k for k in draft.keys if k.endswith(BULK_SUFFIX)]
        if not draft.fresh:
            self.queue.delete_many(single_items(draft.dupes) + bulk)
            self.intake.taken.difference_update(draft.keys)
            stats.objects_read, stats.objects_written = _since(draft.counts, self.store,
                                                               self.queue)
            return draft.base, stats
        size = draft.size
        upd = tindex.merge_shards(draft.manifest, draft.shard_records(), size, self.index.mapped)
        objects = {**draft.objects(), **upd.objects,
                   tindex.manifest_path(size): tindex.format_manifest(upd.manifest)}
        checkpoint = Checkpoint(self.cfg.origin, size, edge_root(size, draft.edge))
        note = sign_note(format_checkpoint(checkpoint), self.signer)
        # On a folder the bundle's name carries the nonce: two sequencers building the same
        # tree do not collide. On a bucket it is the tree's alone.
        spath = staging_path(size, checkpoint.root_hash, draft.nonce if draft.stage else "")
        if draft.stage:  # a folder: each object staged as a file; the bundle names them all
            late = [(staged_file(spath, p), p, d) for p, d in sorted(objects.items())]
            self.store.put_many([(f, d) for f, _, d in late])
            objects = {"linked": json.dumps(draft.early + [(f, p) for f, p, _ in late]).encode()}
        objects["queue-items"] = json.dumps(single_items(draft.fresh + draft.dupes)
                                            + bulk).encode()
        batch = StagedBatch(spath, objects, note, checkpoint, draft.nonce, bool(draft.stage))
        try:
            committed = self.protocol.carry_out(batch, draft.base, summary)
        except LostRace as e:
            raise LostRace(f"its {draft.submissions} queued submissions") from e
        assert committed is not None  # a batch on a base commits, or raises
        self.index.forget(upd.manifest)
        self.index.collect()
        self.intake.taken.difference_update(draft.keys)
        self._edge, self._bundle = draft.edge, draft.bundle
        stats.admitted += len(draft.fresh)
        stats.objects_read, stats.objects_written = _since(draft.counts, self.store, self.queue)
        if self._progress:
            self._progress(draft.submissions)
        return committed, stats


def _release_memory() -> None:
    """Give the heap's free pages back after a run: glibc keeps what a batch's large
    temporaries freed, and a daemon's heap then crept up run after run (28 to 44 MB over 100
    batches of 2,000; flat with this, bench/memory.py). Elsewhere there is nothing to do."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: Any = None


def _lost_message(summary: RunSummary, pending: str) -> str:
    done = (f"this run committed {summary.stats.admitted} entries in {summary.batches} "
            "batches before that" if summary.batches else "this run committed nothing")
    return (f"another sequencer committed to this log while this run prepared a batch: "
            f"{done}; {pending} stay queued for the next run, unless the other sequencer "
            "logged them")


def _counts(*stores: Any) -> tuple[int, int]:
    """(reads, writes) sent so far by the distinct stores given."""
    reads = writes = 0
    for store in {id(s): s for s in stores}.values():
        s = getattr(store, "stats", None)
        if s is not None:
            reads += s.gets + s.lists + s.heads
            writes += s.puts + s.deletes
    return reads, writes


def _since(before: tuple[int, int], *stores: Any) -> tuple[int, int]:
    after = _counts(*stores)
    return after[0] - before[0], after[1] - before[1]
