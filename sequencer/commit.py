"""The commit protocol (README steps 5-9): stage → commit → apply → publish → clean up.

``CommitProtocol.carry_out`` is the whole protocol for one batch; recovery calls the same
function for a batch that a run which died had committed, entering at step 7. Everything
before the commit (step 6, a compare-and-swap of the lock) is invisible to readers, and
everything after it is idempotent, so a crash anywhere loses nothing, two sequencers cannot
both commit a tree of one size, and the public ``checkpoint`` only ever names a tree whose
tiles are all written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tlog.checkpoint import Checkpoint, parse_checkpoint
from tlog.errors import ConflictError, NotFoundError, TlogError
from tlog.note import Verifier, open_note

from .crash import crashpoint
from .index_cache import IndexCache
from .lock import (
    CHECKPOINT_KEY,
    LOCK_KEY,
    Committed,
    LostRace,
    format_lock,
    parse_lock,
    should_replace,
)
from .staging import STAGING_PREFIX, decode_staging, encode_staging, parse_staging_path
from .summary import RunSummary

__all__ = ["CommitProtocol", "StagedBatch"]

log = logging.getLogger("tiledlog.sequencer")

Cosign = Callable[[bytes, int], tuple[bytes, dict[str, str], bool]]


@dataclass(frozen=True)
class StagedBatch:
    """A batch ready to commit: its staging bundle (``path``, and the ``objects`` it holds:
    the new tiles, bundles and index objects, or on a folder ``linked``, the staged files
    naming them; ``queue-items``, what to consume), and its signed checkpoint."""

    path: str
    objects: dict[str, bytes]
    note: bytes
    checkpoint: Checkpoint
    nonce: str = ""  # the committing run's, recorded in the lock
    private_path: bool = False  # the bundle's name is this run's alone (on a folder)


class CommitProtocol:
    """Steps 5-9 against one log: ``store`` (the published log), ``queue``, the log's
    ``verifier``, its index cache, and the witness and site hooks."""

    def __init__(self, store: Any, queue: Any, verifier: Verifier, index: IndexCache,
                 cosign: Cosign | None = None,
                 after_publish: Callable[[bytes], None] | None = None,
                 witnesses: int = 0) -> None:
        self.store, self.queue, self.verifier, self.index = store, queue, verifier, index
        # witnesses: the cosignatures a public checkpoint needs to be left as it is
        self.cosign, self.after_publish, self.witnesses = cosign, after_publish, witnesses
        self._unpublished = -1  # the tree last said to be short of the witness policy

    def carry_out(self, batch: StagedBatch, base: Committed | None,
                  summary: RunSummary) -> Committed | None:
        """Stage, commit, apply, publish and clean up ``batch`` on top of the committed tree
        ``base``, and return the new committed tree; ``base`` None: recovery of a batch
        already committed (steps 7-9 only; returns None). Raises ``LostRace`` (nothing of
        the batch written but its own staging, then removed) when another sequencer
        committed first."""
        committed = None
        if base is not None:
            # 5. Stage: everything the new tree needs, in one bundle (or named by it).
            self.store.put(batch.path, encode_staging(batch.objects))
            crashpoint("staged")
            # 6. Commit: compare-and-swap the lock. The batch exists from here on.
            committed = Committed(batch.note, batch.checkpoint, self._swap_lock(base, batch))
            crashpoint("committed")
        objects = dict(batch.objects)
        queue_items = json.loads(objects.pop("queue-items", b"[]"))
        linked = json.loads(objects.pop("linked", b"[]"))
        # 7. Apply: create-only writes (or links of the staged files): no tile is ever
        # replaced by different bytes.
        if linked:
            self.store.link_many([(f, p) for f, p in linked])
        self.store.put_many(sorted(objects.items()))
        for path, data in objects.items():
            if path.startswith("index/"):
                self.index.put(path, data)
        crashpoint("applied")
        # 8. Publish: the witnesses cosign the committed tree, then the public checkpoint
        # moves to it (never backwards).
        self.ensure_published(batch.note, batch.checkpoint, summary)
        crashpoint("published")
        # 9. Clean up: the consumed queue items, the staged files, then the bundle (last:
        # while it is there, a run applies the batch again).
        self.queue.delete_many(queue_items)
        self.store.delete_many([f for f, _ in linked])
        self.store.delete(batch.path)
        self.drop_stale(batch.checkpoint)
        crashpoint("cleaned")
        return committed

    def _swap_lock(self, base: Committed, batch: StagedBatch) -> str:
        """The commit point. A conflict is either another sequencer's commit (this run lost:
        its own staging goes) or this run's own retried write that landed (the lock holds its
        checkpoint and its nonce)."""
        lock = format_lock(batch.note, batch.nonce)
        try:
            return self.store.replace(LOCK_KEY, base.version, lock)
        except ConflictError as e:
            current, version = self.store.fetch(LOCK_KEY)
            if parse_lock(current) == (batch.note, batch.nonce):
                return version
            linked = json.loads(batch.objects.get("linked", b"[]"))
            self.store.delete_many([f for f, _ in linked])
            # A bucket's bundle is named by size and root alone: when the winner committed
            # this very batch, it is the winner's too.
            if batch.private_path or parse_lock(current)[0] != batch.note:
                self.store.delete(batch.path)
            raise LostRace() from e

    def recover(self, committed: Committed, summary: RunSummary) -> bool:
        """Finish a committed batch whose staging bundle is still there (a run died after
        step 6), through ``carry_out``; otherwise make sure the committed tree is public.
        Whether a batch was recovered."""
        cp = committed.checkpoint
        found = False
        for path, size, root in self.staged():
            if size == cp.size and root == cp.root_hash:
                try:
                    blob = self.store.get(path)
                except NotFoundError:
                    continue  # another sequencer finished applying it: bundles go last
                log.warning("recovering committed tree %d from %s", size, path)
                self.carry_out(StagedBatch(path, decode_staging(blob), committed.note, cp),
                               None, summary)
                found = True
        if not found:
            self.ensure_published(committed.note, cp, summary)
            self.drop_stale(cp)
        return found

    def staged(self) -> list[tuple[str, int, bytes]]:
        """Staging bundles: (path, size, root)."""
        out = []
        for path in list(self.store.list(STAGING_PREFIX)):
            if "~" in path:
                continue  # a file staged for a bundle, not a bundle
            try:
                size, root = parse_staging_path(path)
            except TlogError:
                continue
            out.append((path, size, root))
        return out

    def drop_stale(self, cp: Checkpoint) -> None:
        """Delete staging that can never be committed: smaller than the committed tree
        (applied, or lost a race) or of its size with another root; staged files of the
        committed tree whose bundle is gone (the bundle goes last, once they are applied);
        files staged early on a tree the log has passed. Larger ones, and early files on
        the committed tree, may belong to a sequencer about to commit: they stay until the
        log passes them."""
        stale, bundles, files = [], set(), []
        for path in list(self.store.list(STAGING_PREFIX)):
            head = path.partition("~")[0]
            base, plus, _ = head.removeprefix(STAGING_PREFIX).partition("+")
            if plus:  # staged early: <base>+<nonce>~<path>
                if base.isdigit() and int(base) < cp.size:
                    stale.append(path)
                continue
            try:
                size, root = parse_staging_path(path)
            except TlogError:
                continue
            if size < cp.size or (size == cp.size and root != cp.root_hash):
                stale.append(path)
            elif "~" not in path:
                bundles.add(path)
            elif size == cp.size:
                files.append(path)
        stale += [path for path in files if path.partition("~")[0] not in bundles]
        self.store.delete_many(stale)

    def ensure_published(self, note: bytes, cp: Checkpoint, summary: RunSummary) -> None:
        """Publish the committed checkpoint (with cosignatures) unless a newer one is out.
        A tree that is already public needs nothing: a witness outage then costs an idle run
        a warning, not a failure (the witnesses are asked again with the next tree)."""
        if self.cosign is not None:
            public = self._public_note(cp)
            if public is not None and public.count("\n— ".encode()) >= 1 + self.witnesses:
                summary.published = True
                return
            note, results, ok = self.cosign(note, cp.size)
            summary.witnesses.update(results)
            summary.short_of_witnesses = not ok
            # Said once per tree, not at every retry (a frontend or --watch retries often).
            said = not ok and cp.size == self._unpublished
            if not ok:
                self._unpublished = cp.size
            why = "; ".join(f"{name}: {r}" for name, r in sorted(results.items())
                            if r != "cosigned")
            if not ok and public is not None:
                summary.published = True
                if not said:
                    log.warning("witness policy not met for tree %d, which is already "
                                "public: kept as published (%s)", cp.size, why)
                return
            if not ok:
                summary.published = False
                if not said:
                    log.warning("witness policy not met; checkpoint %d not published (%s)",
                                cp.size, why)
                return
        for _ in range(5):
            try:
                current, version = self.store.fetch(CHECKPOINT_KEY)
            except NotFoundError:
                current, version = None, None
            if current is not None and not should_replace(current, note, cp, self.verifier):
                break
            try:
                if version is None:
                    self.store.create(CHECKPOINT_KEY, note)
                else:
                    self.store.replace(CHECKPOINT_KEY, version, note)
                break
            except ConflictError:
                continue  # someone else published meanwhile (or our retry landed): re-read
        else:
            raise ConflictError("kept losing the race to publish; try again", key=CHECKPOINT_KEY)
        summary.published = True
        if self.after_publish:
            self.after_publish(note)

    def _public_note(self, cp: Checkpoint) -> bytes | None:
        """The public checkpoint if it names tree ``cp`` (signed by the log), else None."""
        try:
            current = self.store.get(CHECKPOINT_KEY)
            public = parse_checkpoint(open_note(current, [self.verifier]).text)
        except TlogError:
            return None
        return current if (public.size, public.root_hash) == (cp.size, cp.root_hash) else None
