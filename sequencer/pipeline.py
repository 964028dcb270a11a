"""One sequencing run: queue → admission → dedup → integration → stage → commit → apply → publish.

The commit point is a compare-and-swap of the lock object (``sequencer/lock``, the log-signed
checkpoint of the committed tree). Everything before it is invisible to readers; everything after
it is idempotent and is redone by the next run if this one dies, through the same code path
(``_finish``). So a crash anywhere loses nothing, two sequencers cannot both commit the same size,
and the public ``checkpoint`` only ever names a tree whose tiles are all written.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import itertools
import json
import logging
import mmap
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlog import index as tindex
from tlog.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint
from tlog.client.admission import task_spans
from tlog.entries.submission import MAX_DOCUMENT
from tlog.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    TlogError,
    VerificationError,
)
from tlog.integrate import edge_root, edge_tiles, integrate, integrate_bundles
from tlog.merkle import EMPTY_ROOT
from tlog.note import new_signer, new_verifier, open_note, sign_note
from tlog.queue import (
    BULK_BYTES,
    BULK_MAX,
    BULK_SUFFIX,
    LEGACY_QUEUE_PREFIX,
    QUEUE_PREFIX,
    REJECTED_PREFIX,
    item_name,
    queued_count,
)
from tlog.storage.base import get_many_parallel
from tlog.tiles import ENTRIES, Tile

from .config import LogConfig
from .crash import crashpoint
from .rejection import format_rejection
from .staging import (
    STAGING_PREFIX,
    decode_staging,
    encode_staging,
    parse_staging_path,
    staged_file,
    staging_path,
)

__all__ = [
    "LOCK_KEY",
    "BatchStats",
    "RunSummary",
    "Sequencer",
    "existing_log",
    "publish_empty_log",
]

log = logging.getLogger("tiledlog.sequencer")

LOCK_KEY = "sequencer/lock"
CHECKPOINT_KEY = "checkpoint"
ADMIT_CHUNK = 10_000  # submissions read from the queue at a time (bounds memory)
ADMIT_BYTES = 64 << 20  # and about this many bytes of them
_READ_GROUP = 64  # queue objects read in one go (get_many)
_INTEGRATE_EVERY = 4096  # admitted entries integrated per pass
_BULK_LIMIT = BULK_BYTES + MAX_DOCUMENT  # bytes of one bulk object (its last line may straddle)
_READ_THREADS = 16  # queue objects read at once


@dataclass
class _Chunk:
    """Documents read from the queue for one admission task, and where they stand in their
    batch (``keys``: the batch's queue objects, on its first chunk; ``last``: its last)."""

    items: list[tuple[str, bytes]]
    keys: list[str] | None
    last: bool


@dataclass
class BatchStats:
    """What one batch did (also summed over a run)."""

    admitted: int = 0
    rejected: int = 0
    duplicates: int = 0
    objects_written: int = 0
    objects_read: int = 0

    def add(self, other: BatchStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class RunSummary:
    """The JSON summary of ``tlog sequence``."""

    origin: str
    size: int
    root: str
    stats: BatchStats = field(default_factory=BatchStats)
    batches: int = 0
    recovered: bool = False
    published: bool = True
    witnesses: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    lost_race: str | None = None  # why this run stopped early: another sequencer committed

    def as_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root,
            "admitted": self.stats.admitted,
            "rejected": self.stats.rejected,
            "duplicates": self.stats.duplicates,
            "objects_written": self.stats.objects_written,
            "objects_read": self.stats.objects_read,
            "batches": self.batches,
            "recovered": self.recovered,
            "published": self.published,
            "witnesses": self.witnesses,
            "seconds": round(self.seconds, 3),
            "lost_race": self.lost_race,
        }


@dataclass
class _Committed:
    note: bytes
    checkpoint: Checkpoint
    version: str


_COMMIT_MARK = b"\n\ncommit "


def _lock_bytes(note: bytes, nonce: str) -> bytes:
    """The lock's content: the committed checkpoint's signed note, then the committing run's
    nonce, so that a sequencer can tell its own landed commit from another's commit of the
    very same batch (Ed25519 is deterministic: two sequencers that build the same batch sign
    the same note)."""
    return note + b"\ncommit " + nonce.encode() + b"\n"


def _parse_lock(data: bytes) -> tuple[bytes, str]:
    """(signed note, nonce) of a lock; a lock written before nonces (and the empty log's)
    is the bare note, with nonce "". A note's signature block never holds a blank line."""
    at = data.find(_COMMIT_MARK)
    if at < 0:
        return data, ""
    return data[: at + 1], data[at + len(_COMMIT_MARK):].strip().decode("ascii", "replace")


class _LostRace(ConflictError):
    """Another sequencer committed first: this run's batch in progress is not logged by it."""


def _bundle_tile(size: int) -> Tile | None:
    width = size % 256
    return Tile(ENTRIES, size // 256, width) if width else None


Stage = Callable[[list[tuple[str, bytes]]], list[tuple[str, str]]]
"""Stages objects early, as files of their own; returns (staged file, object path) pairs."""


class _Draft:
    """A batch as it is built, chunk by chunk, on top of the committed tree ``base``: the
    items admitted so far, their tiles and bundles (the latest version of each), and
    their index records. Nothing here is published until the batch is committed; on a
    folder (``stage``), tiles that are full, and so final, are staged as they appear."""

    def __init__(self, base: _Committed, manifest: tindex.Manifest, edge: dict[Tile, bytes],
                 bundle: bytes | None, keys: list[str], stage: Stage | None = None,
                 nonce: str = "") -> None:
        self.base, self.manifest, self.keys = base, manifest, keys
        self.stage, self.nonce = stage, nonce
        self.early: list[tuple[str, str]] = []  # (staged file, object path) staged so far
        self.size = base.checkpoint.size
        self.edge, self.bundle = edge, bundle
        self.tiles: dict[tuple[int, int], tuple[Tile, bytes]] = {}
        self.runs: list[list[list[bytes]]] = [[] for _ in range(tindex.SHARDS)]
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
        if len(self.pending) >= _INTEGRATE_EVERY:
            self.flush()

    def flush(self) -> None:
        """Give the pending entries the next indexes; integrate them from the right edge."""
        new, self.pending = self.pending, []
        if not new:
            return
        start = self.size
        integ = integrate(start, self.edge, [r[1] for _, r in new])
        bundles = integrate_bundles(start, self.bundle, [r[0] for _, r in new])
        for tile, data in (*integ.tiles.items(), *bundles.items()):
            self.tiles[tile.level, tile.n] = (tile, data)  # a fuller tile replaces a partial
        self.size = integ.size
        self.edge = {t: integ.tiles.get(t) or self.edge[t] for t in edge_tiles(self.size)}
        btile = _bundle_tile(self.size)
        self.bundle = bundles[btile] if btile else None
        records: list[bytes] = []
        add = records.append
        for (_, (_, leaf, keys)), i in zip(new, range(start, self.size), strict=True):
            suffix = i.to_bytes(8, "big")
            add(leaf + suffix)
            for k in range(0, len(keys), 32):
                add(keys[k : k + 32] + suffix)
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
        by the commit only a few short merges are left (not a sort of the whole batch)."""
        records.sort()
        cuts = [0, *(bisect.bisect_left(records, bytes([s << 4])) for s in range(1, 16)),
                len(records)]
        for shard, stack in enumerate(self.runs):
            run = records[cuts[shard] : cuts[shard + 1]]
            while stack and len(stack[-1]) <= len(run):
                run = stack.pop() + run
                run.sort()  # two sorted runs: a linear merge
            if run:
                stack.append(run)

    def shard_records(self) -> list[list[bytes]]:
        """Each shard's records of the batch as one sorted run (the stacks are emptied)."""
        out = []
        for stack in self.runs:
            merged = [r for run in stack for r in run]
            merged.sort()
            out.append(merged)
            stack.clear()
        return out

    def objects(self) -> dict[str, bytes]:
        """The tiles and bundles of the batch, by path."""
        return {t.path: data for t, data in self.tiles.values()}


def existing_log(store: Any, origin: str, vkey: str) -> Checkpoint | None:
    """The committed checkpoint of the log already at ``store`` (None: there is none), checked
    against ``vkey`` and ``origin``; another key's or origin's log is an error saying whose."""
    try:
        note, _ = store.fetch(LOCK_KEY)
    except NotFoundError:
        return None
    try:
        cp = parse_checkpoint(open_note(note, [new_verifier(vkey)]).text)
    except VerificationError as e:
        raise VerificationError(
            f"{store.url}/{LOCK_KEY}: a log already exists there, signed by {_signers(note)}, "
            f"not by this key ({_key_label(vkey)}); use that log's key, or another store"
        ) from e
    if cp.origin != origin:
        raise ConfigError(f"{store.url}: a log of origin {cp.origin!r} already exists there "
                          f"(size {cp.size}), not {origin!r}")
    return cp


def publish_empty_log(store: Any, origin: str, skey: str) -> bytes:
    """Create the lock and the public checkpoint of an empty log (``tlog init``)."""
    signer = new_signer(skey)
    note = sign_note(format_checkpoint(Checkpoint(origin, 0, EMPTY_ROOT)), signer)
    try:
        store.create(LOCK_KEY, note)
    except ConflictError:
        existing, _ = store.fetch(LOCK_KEY)
        verifier = new_verifier(_vkey_of(skey))
        cp = parse_checkpoint(open_note(existing, [verifier]).text)
        if cp.origin != origin:
            raise
        return existing
    with contextlib.suppress(ConflictError):
        store.create(CHECKPOINT_KEY, note)
    return note


def _should_replace(current: bytes, note: bytes, cp: Checkpoint, verifier: Any) -> bool:
    """Whether the public checkpoint should move to ``note``: never backwards, never to fewer
    signatures on the same tree."""
    if current == note:
        return False
    try:
        public = open_note(current, [verifier])
        public_cp = parse_checkpoint(public.text)
    except TlogError:
        return True  # unreadable or foreign: the committed checkpoint replaces it
    if public_cp.size != cp.size:
        return public_cp.size < cp.size
    return len(public.sigs) + len(public.unverified) < note.count("\n— ".encode())


def _key_label(vkey: str) -> str:
    """``name+keyhash`` of a verifier key: enough to tell keys apart in a message."""
    return "+".join(vkey.split("+")[:2])


def _signers(note: bytes) -> str:
    """``name+keyhash`` of each signature line of a note (no verification), for messages."""
    import base64
    import binascii

    out = []
    for line in note.decode("utf-8", "replace").split("\n\n")[-1].splitlines():
        name, _, sig = line.removeprefix("— ").partition(" ")
        try:
            out.append(f"{name}+{base64.b64decode(sig, validate=True)[:4].hex()}")
        except (binascii.Error, ValueError):
            continue
    return ", ".join(out) or "no signature line"


def _vkey_of(skey: str) -> str:
    from tlog.note import vkey_for_skey

    return vkey_for_skey(skey)


class Sequencer:
    """Drains a queue into a log. Construct once; call ``run`` once or repeatedly (daemon)."""

    def __init__(
        self,
        cfg: LogConfig,
        store: Any,
        queue: Any,
        *,
        admit: Callable[[Sequence[bytes]], list[Any]] | None = None,
        cosign: Callable[[bytes, int], tuple[bytes, dict[str, str], bool]] | None = None,
        after_publish: Callable[[bytes], None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.queue = queue
        self.signer = new_signer(cfg.signer_key())
        self.verifier = new_verifier(_vkey_of(cfg.signer_key()))
        if cfg.vkey and cfg.vkey != self.verifier.vkey:
            raise ConfigError(
                f"{cfg.path or 'config'}: vkey {_key_label(cfg.vkey)} is not the public key "
                f"of the signer key ({_key_label(self.verifier.vkey)}); set vkey to the "
                "signer's .pub, or point key.file/key.env at the log's own key")
        self._workers = cfg.workers or os.cpu_count() or 1
        self._stream = _streaming(admit) if admit else _default_stream(self._workers)
        self._taken: set[str] = set()  # queue objects of batches not yet finished
        self._strays = 0  # queue objects rejected unread or whole (a bad name, too large)
        self._cosign = cosign
        self._after_publish = after_publish
        self._progress = progress
        # Index objects are read through a local copy; a log in a folder is its own copy.
        self._folder: Callable[[str], Path] | None = getattr(store, "local_path", None)
        self._cache_dir = cfg.state_path() / "index"
        self._views: dict[str, tindex.LevelView] = {}
        self._edge: dict[Tile, bytes] | None = None
        self._bundle: bytes | None = None

    # ----- reading the committed state -------------------------------------------------

    def _load_committed(self) -> _Committed:
        try:
            lock, version = self.store.fetch(LOCK_KEY)
        except NotFoundError as e:
            raise TlogError(
                f"{self.store.url}: no log here yet (no {LOCK_KEY}); run `tlog init` first"
            ) from e
        note, _ = _parse_lock(lock)
        try:
            cp = parse_checkpoint(open_note(note, [self.verifier]).text)
        except VerificationError as e:
            raise VerificationError(
                f"{self.store.url}/{LOCK_KEY}: signed by {_signers(note)}, but the configured "
                f"key is {_key_label(self.verifier.vkey)}; point key.file/key.env at the key "
                "that signed this log (or init a new log elsewhere)") from e
        if cp.origin != self.cfg.origin:
            raise VerificationError(
                f"{LOCK_KEY}: origin {cp.origin!r} does not match the config's {self.cfg.origin!r}"
            )
        return _Committed(note, cp, version)

    def _load_edge(self, cp: Checkpoint) -> None:
        """Read the right edge of the committed tree and check it against the signed root."""
        tiles = edge_tiles(cp.size)
        btile = _bundle_tile(cp.size)
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

    def _local(self, path: str) -> Path:
        return self._folder(path) if self._folder else self._cache_dir / path

    def _read_index(self, path: str) -> bytes:
        """Immutable index objects, read through a local write-through cache."""
        try:
            return self._local(path).read_bytes()
        except FileNotFoundError:
            data = self.store.get(path)
            self._cache_put(path, data)
            return data

    def _index_view(self, path: str) -> tindex.LevelView:
        """An index object for lookups: its local copy mapped into memory, kept open while
        the index references it (dedup searches touch a few pages of each, batch after
        batch, however large the levels grow)."""
        view = self._views.get(path)
        if view is None:
            data: tindex.Buffer = self._read_index(path)  # makes sure the local copy exists
            if data:
                with open(self._local(path), "rb") as f:
                    data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            view = self._views[path] = tindex.level_view(data)
        return view

    def _forget_views(self, manifest: tindex.Manifest) -> None:
        """Drop the index objects the new manifest no longer references."""
        keep = set(tindex.index_paths(manifest))
        for path in [p for p in self._views if p not in keep]:
            data = self._views.pop(path).data
            if isinstance(data, mmap.mmap):
                data.close()

    def _cache_put(self, path: str, data: bytes) -> None:
        if self._folder:
            return
        local = self._cache_dir / path
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f"{local.name}.tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, local)

    def _manifest(self, size: int) -> tindex.Manifest:
        try:
            return tindex.parse_manifest(self._read_index(tindex.manifest_path(size)))
        except NotFoundError:
            if size == 0:
                return tindex.empty_manifest()
            raise

    # ----- the run ---------------------------------------------------------------------

    def run(
        self, max_entries: int | None = None, should_stop: Callable[[], bool] | None = None
    ) -> RunSummary:
        """Finish any committed-but-unapplied batch, then drain the queue batch by batch."""
        started = time.monotonic()
        for store in {id(s): s for s in (self.store, self.queue)}.values():
            sweep = getattr(store, "sweep_temporary", None)  # a folder: writes that died
            if sweep is not None:
                sweep()
        committed = self._load_committed()
        summary = RunSummary(
            self.cfg.origin, committed.checkpoint.size, committed.checkpoint.root_hash.hex()
        )
        summary.recovered = self._recover(committed, summary)
        self._load_edge(committed.checkpoint)
        # Documents stream through admission without a pause between batches: while one
        # batch is committed, the workers go on verifying the next (admission only reads the
        # queue; rejections are filed as results are consumed, and are final whatever happens
        # to either batch). Each batch is built as its results arrive, from the committed
        # state of the one before.
        self._taken = set()
        self._strays = 0
        stream = self._stream(self._feed(max_entries, should_stop))
        try:
            self._drain(stream, committed, summary, should_stop)
        except _LostRace as e:
            summary.lost_race = self._lost_message(summary, str(e))
        except NotFoundError as e:
            # An index object of the tree this run started from is gone: housekeeping by a
            # sequencer that committed since (index_keep) removed it. That is a lost race too.
            if self._lock_version() == self._committed_version:
                raise
            summary.lost_race = self._lost_message(summary, f"its batch in progress ({e})")
        finally:
            stream.close()  # unconsumed results are dropped: their items stay queued
        committed = self._last_committed
        summary.stats.rejected += self._strays
        summary.size = committed.checkpoint.size
        summary.root = committed.checkpoint.root_hash.hex()
        summary.seconds = time.monotonic() - started
        return summary

    def _drain(self, stream: Iterator[tuple[_Chunk, Sequence[Any]]], committed: _Committed,
               summary: RunSummary, should_stop: Callable[[], bool] | None) -> None:
        """Build and commit batches from the admission stream until it ends."""
        draft: _Draft | None = None
        self._last_committed = committed
        self._committed_version = committed.version
        for chunk, results in stream:
            if draft is None:
                nonce = os.urandom(8).hex()
                draft = _Draft(committed, self._manifest(committed.checkpoint.size),
                               self._edge or {}, self._bundle, chunk.keys or [],
                               self._stager(committed.checkpoint.size, nonce), nonce)
                draft.counts = _counts(self.store, self.queue)
            self._add(draft, chunk.items, results)
            if chunk.last:
                committed, stats = self._batch(draft, summary)
                self._last_committed, self._committed_version = committed, committed.version
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

    @staticmethod
    def _lost_message(summary: RunSummary, pending: str) -> str:
        done = (f"this run committed {summary.stats.admitted} entries in {summary.batches} "
                "batches before that" if summary.batches else "this run committed nothing")
        return (f"another sequencer committed to this log while this run prepared a batch: "
                f"{done}; {pending} stay queued for the next run, unless the other sequencer "
                "logged them")

    def _feed(
        self, max_entries: int | None, should_stop: Callable[[], bool] | None
    ) -> Iterator[tuple[_Chunk, Sequence[bytes]]]:
        """The queue, batch by batch, as admission tasks. A batch is the queue objects
        holding about ``batch_size`` submissions (a bulk object goes whole into one batch);
        none is started once ``max_entries`` submissions are out, or once asked to stop."""
        todo = max_entries
        while (todo is None or todo > 0) and not (should_stop and should_stop()):
            limit = self.cfg.batch_size if todo is None else min(todo, self.cfg.batch_size)
            keys = self._next_batch(limit, exclude=self._taken)
            if not keys:
                return
            self._taken.update(keys)
            pieces = self._pieces(keys)
            piece: list[tuple[str, bytes]] | None = next(pieces)
            first = True
            while piece is not None:
                if todo is not None:
                    todo -= len(piece)
                spans = [piece[a:b] for a, b in task_spans(len(piece), self._workers)] or [[]]
                for span in spans[:-1]:
                    yield _Chunk(span, keys if first else None, False), [d for _, d in span]
                    first = False
                following = next(pieces, None)  # read on only once this piece is out
                yield _Chunk(spans[-1], keys if first else None, following is None), [
                    d for _, d in spans[-1]]
                first, piece = False, following

    def _pieces(self, keys: list[str]) -> Iterator[list[tuple[str, bytes]]]:
        """A batch's queue objects, read a few at a time, as pieces of at most
        ``ADMIT_CHUNK`` submissions and about ``ADMIT_BYTES``: what the run holds of the
        queue at once, besides the documents in flight (at least one piece, maybe empty)."""
        piece: list[tuple[str, bytes]] = []
        held = pieces = 0
        for group in _chunks(keys, ADMIT_CHUNK, _READ_GROUP):
            items = self._read_items(group)
            if piece and len(piece) + len(items) > ADMIT_CHUNK:
                yield piece
                piece, held, pieces = [], 0, pieces + 1
            piece += items
            held += sum(len(d) for _, d in items)
            if held >= ADMIT_BYTES or len(piece) >= ADMIT_CHUNK:
                yield piece
                piece, held, pieces = [], 0, pieces + 1
        if piece or not pieces:
            yield piece

    def _next_batch(self, limit: int, exclude: set[str] | None = None) -> list[str]:
        """Queue objects holding about ``limit`` submissions (at least one object), other
        than those of batches in flight (``exclude``)."""
        keys: list[str] = []
        total = 0
        for key in itertools.chain(self.queue.list(QUEUE_PREFIX),
                                   self.queue.list(LEGACY_QUEUE_PREFIX)):
            n = queued_count(key)
            if not n:
                self._reject_stray(key)
                continue
            if exclude and key in exclude:
                continue
            if keys and total + n > limit:
                break
            keys.append(key)
            total += n
            if total >= limit:
                break
        return keys

    def _reject_stray(self, key: str) -> None:
        """A queue object whose name is no queue object's: rejected once (its record keeps
        what it holds), or it would be passed over on every run, forever."""
        try:
            doc = self.queue.get(key)
        except NotFoundError:
            return  # consumed meanwhile
        self._reject_whole(key, doc, f"{key}: not a queue object name (one submission is "
                     f"{QUEUE_PREFIX}<id>.json, many are {QUEUE_PREFIX}<sha256>-<count>"
                     f"{BULK_SUFFIX}); submit with `tlog submit`")

    def _read_items(self, keys: list[str]) -> list[tuple[str, bytes]]:
        """(item id, document) for queue objects: a ``.json`` object is one item named by
        its key; every line of a bulk object is the item ``<key>#`` (its lines are consumed
        with the object, so they need no names of their own). Objects are read only up to
        their limit, and one over it (in bytes, or a bulk object in documents) is rejected
        whole: a queue writer cannot make a batch of any size, or exhaust memory."""
        limits = {k: _BULK_LIMIT if k.endswith(BULK_SUFFIX) else MAX_DOCUMENT for k in keys}

        def head(key: str) -> bytes:
            return self.queue.get_range(key, 0, limits[key] + 1)

        items: list[tuple[str, bytes]] = []
        for key, data in zip(keys, get_many_parallel(head, keys, _READ_THREADS), strict=True):
            if data is None:
                continue  # consumed meanwhile by another sequencer
            if len(data) > limits[key]:
                self._reject_whole(key, data, f"{key}: over {limits[key]} bytes (a document is "
                                   f"at most {MAX_DOCUMENT}; a bulk object at most {BULK_BYTES} "
                                   "plus one document); split it, or submit with `tlog submit`")
                continue
            if not key.endswith(BULK_SUFFIX):
                items.append((key, data))
                continue
            item = f"{key}#"
            lines = [(item, line) for line in data.split(b"\n") if line.strip()]
            if len(lines) > BULK_MAX:
                self._reject_whole(key, data, f"{key}: {len(lines)} documents, over the "
                                   f"{BULK_MAX} of a bulk object; split it")
                continue
            items += lines
        return items

    def _reject_whole(self, key: str, data: bytes, reason: str) -> None:
        self._strays += 1
        self._reject(key, data, reason)

    def _recover(self, committed: _Committed, summary: RunSummary) -> bool:
        """Apply a committed batch whose staging bundle is still there; drop stale bundles."""
        cp = committed.checkpoint
        found = False
        for path, size, root in self._staged():
            if size == cp.size and root == cp.root_hash:
                try:
                    blob = self.store.get(path)
                except NotFoundError:
                    continue  # another sequencer finished applying it: bundles go last
                log.warning("recovering committed tree %d from %s", size, path)
                self._finish(committed, decode_staging(blob), path, summary)
                found = True
        if not found:
            self._ensure_published(committed, summary)
            self._drop_stale(cp)
        return found

    def _staged(self) -> list[tuple[str, int, bytes]]:
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

    def _drop_stale(self, cp: Checkpoint) -> None:
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

    # ----- one batch -------------------------------------------------------------------

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

    def _add(self, draft: _Draft, items: list[tuple[str, bytes]], results: list[Any]) -> None:
        """Steps 1-3 for one chunk of the batch: file rejections (final whatever happens to the
        batch), drop exact duplicates (within the batch, then against the log's leaf-hash
        index), assign indexes and integrate from the right edge (pure)."""
        new: list[tuple[str, Any]] = []
        for (item, doc), res in zip(items, results, strict=True):
            draft.submissions += 1
            if isinstance(res, TlogError):
                self._reject(item, doc, str(res))
                draft.rejected += 1
            elif res[1] in draft.seen:
                draft.dupes.append(item)
            else:
                draft.seen.add(res[1])
                new.append((item, res))
        if not new:
            return
        found = tindex.lookup_many(draft.manifest, [r[1] for _, r in new], self._index_view)
        if found:
            found = self._confirmed(found, draft.base.checkpoint.size)
        if found:
            # Already in the committed log: safe to drop now (bulk objects go at the end).
            known = [i for i, r in new if r[1] in found]
            self._delete_all(self.queue, _single(known))
            draft.known += len(known)
            new = [(i, r) for i, r in new if r[1] not in found]
        if new:
            draft.append(new)

    def _confirmed(self, found: dict[bytes, list[int]], size: int) -> dict[bytes, list[int]]:
        """The index's hits that the log's own level-0 tiles confirm: a submission is
        dropped as a duplicate only if an entry of the committed tree has its leaf hash.
        Anything else is a broken index: said, and the submission is logged (again, at
        worst), never lost on the index's word."""
        tiles = {i // 256 for indexes in found.values() for i in indexes if i < size}
        paths = {n: Tile(0, n, min(256, size - n * 256)).path for n in tiles}
        data = dict(zip(paths, self.store.get_many(list(paths.values())), strict=True))
        out = {}
        for leaf, indexes in found.items():
            good = [i for i in indexes if i < size and (t := data.get(i // 256)) is not None
                    and t[i % 256 * 32 : i % 256 * 32 + 32] == leaf]
            if good:
                out[leaf] = good
            else:
                log.warning("the index names entries %s for leaf hash %s, but the log's tiles "
                            "hold other hashes there: the index is broken; the submission is "
                            "logged rather than dropped", indexes[:8], leaf.hex())
        return out

    def _batch(self, draft: _Draft, summary: RunSummary) -> tuple[_Committed, BatchStats]:
        """Steps 4-6 once the batch is admitted: stage, commit, apply and publish."""
        draft.flush()
        crashpoint("admitted")
        before = draft.counts
        committed = draft.base
        stats = BatchStats(rejected=draft.rejected, duplicates=len(draft.dupes) + draft.known)
        bulk = [k for k in draft.keys if k.endswith(BULK_SUFFIX)]
        if not draft.fresh:
            self._delete_all(self.queue, _single(draft.dupes) + bulk)
            self._taken.difference_update(draft.keys)
            stats.objects_read, stats.objects_written = _since(before, self.store, self.queue)
            return committed, stats
        new_size = draft.size
        upd = tindex.merge_shards(draft.manifest, draft.shard_records(), new_size,
                                  self._read_index)
        objects = draft.objects()
        objects.update(upd.objects)
        objects[tindex.manifest_path(new_size)] = tindex.format_manifest(upd.manifest)

        # 4. Sign the new checkpoint and stage everything it needs as one object.
        root = edge_root(new_size, draft.edge)
        new_cp = Checkpoint(self.cfg.origin, new_size, root)
        note = sign_note(format_checkpoint(new_cp), self.signer)
        # On a folder the bundle names this sequencer's own staged files: its name carries
        # their nonce, so two sequencers building the same tree do not collide.
        spath = staging_path(new_size, root, draft.nonce if draft.stage else "")
        queue_items = json.dumps(_single(draft.fresh + draft.dupes) + bulk).encode()
        linked: list[tuple[str, str]] = []
        if draft.stage:  # a folder: each object staged as a file, the bundle names them
            late = [(staged_file(spath, p), p, d) for p, d in sorted(objects.items())]
            self.store.put_many([(f, d) for f, _, d in late])
            linked = draft.early + [(f, p) for f, p, _ in late]
            objects = {"linked": json.dumps(linked).encode()}
        objects["queue-items"] = queue_items
        self.store.put(spath, encode_staging(objects))
        crashpoint("staged")

        # 5. Commit: compare-and-swap the lock. Losing means another sequencer advanced the log.
        try:
            lock = _lock_bytes(note, draft.nonce)
            version = self.store.replace(LOCK_KEY, committed.version, lock)
        except ConflictError as e:
            # A retried request whose first attempt landed also reports a conflict: look.
            current, version = self.store.fetch(LOCK_KEY)
            if _parse_lock(current) != (note, draft.nonce):
                # Lost. Our own staged files go; a bucket's bundle is named by size and root
                # alone, so when the winner committed this very batch it is the winner's too.
                self._delete_all(self.store, [f for f, _ in linked])
                if draft.stage or _parse_lock(current)[0] != note:
                    self.store.delete(spath)
                raise _LostRace(f"{draft.submissions} queued submissions", key=LOCK_KEY) from e
        crashpoint("committed")
        new_committed = _Committed(note, new_cp, version)

        # 6. Apply, publish and clean up (the same path recovery takes).
        self._finish(new_committed, objects, spath, summary)
        self._forget_views(upd.manifest)
        self._collect_index()
        self._taken.difference_update(draft.keys)
        self._edge, self._bundle = draft.edge, draft.bundle
        stats.admitted += len(draft.fresh)
        stats.objects_read, stats.objects_written = _since(before, self.store, self.queue)
        if self._progress:
            self._progress(draft.submissions)
        return new_committed, stats

    def _collect_index(self) -> None:
        """Delete index manifests older than the newest ``index_keep``, and the level objects
        that only they name: every batch supersedes some, and kept forever they would soon
        outweigh the log. A level object is named by a run of consecutive manifests, so what
        an old manifest names and its successor does not, no later one names. Clients read
        the manifest of the checkpoint they just fetched; housekeeping that fails is retried
        after the next batch."""
        keep = self.cfg.index_keep
        if not keep:
            return
        prefix = tindex.manifest_path(0)[:-1]
        try:
            sizes = sorted(int(k[len(prefix):]) for k in self.store.list(prefix)
                           if k[len(prefix):].isdigit())
            if len(sizes) <= keep:
                return
            for old, following in itertools.pairwise(sizes[: len(sizes) - keep + 1]):
                gone = set(tindex.index_paths(self._manifest(old))) - set(
                    tindex.index_paths(self._manifest(following)))
                self.store.delete_many(sorted(gone))  # the objects first, then what names them
                self.store.delete(tindex.manifest_path(old))
                for path in [*gone, tindex.manifest_path(old)]:
                    if not self._folder:
                        with contextlib.suppress(OSError):
                            (self._cache_dir / path).unlink()
        except TlogError as e:
            log.warning("index housekeeping failed (retried after the next batch): %s", e)

    def _finish(
        self, committed: _Committed, objects: dict[str, bytes], spath: str, summary: RunSummary
    ) -> None:
        """After the commit: apply tiles, publish the checkpoint, consume the queue, clean up."""
        queue_items = json.loads(objects.pop("queue-items", b"[]"))
        linked = json.loads(objects.pop("linked", b"[]"))
        # Apply: create-only writes (or links of the staged files), so a tile can never be
        # replaced by different bytes.
        if linked:
            self.store.link_many([(f, p) for f, p in linked])
        self._put_all(objects)
        for path, data in objects.items():
            if path.startswith("index/"):
                self._cache_put(path, data)
        crashpoint("applied")
        self._ensure_published(committed, summary)
        crashpoint("published")
        self._delete_all(self.queue, queue_items)
        self._delete_all(self.store, [f for f, _ in linked])
        self.store.delete(spath)  # last: while it is there, a re-run applies the batch again
        self._drop_stale(committed.checkpoint)
        crashpoint("cleaned")

    @staticmethod
    def _delete_all(store: Any, keys: Sequence[str]) -> None:
        store.delete_many(list(keys))

    def _put_all(self, objects: dict[str, bytes]) -> None:
        self.store.put_many(sorted(objects.items()))

    def _ensure_published(self, committed: _Committed, summary: RunSummary) -> None:
        """Publish the committed checkpoint (with cosignatures) unless a newer one is out.
        A tree that is already public needs nothing: a witness outage then costs an idle run
        a warning, not a failure (the witnesses are asked again with the next tree)."""
        note = committed.note
        if self._cosign is not None:
            public = self._public_note(committed.checkpoint)
            wanted = 1 + len(self.cfg.witnesses)
            if public is not None and public.count("\n— ".encode()) >= wanted:
                summary.published = True
                return
            note, results, ok = self._cosign(note, committed.checkpoint.size)
            summary.witnesses.update(results)
            if not ok and public is not None:
                summary.published = True
                log.warning("witness policy not met for tree %d, which is already public: "
                            "kept as published", committed.checkpoint.size)
                return
            if not ok:
                summary.published = False
                log.warning(
                    "witness policy not met; checkpoint %d not published", committed.checkpoint.size
                )
                return
        for _ in range(5):
            try:
                current, version = self.store.fetch(CHECKPOINT_KEY)
            except NotFoundError:
                current, version = None, None
            if current is not None and not _should_replace(
                current, note, committed.checkpoint, self.verifier
            ):
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
        if self._after_publish:
            self._after_publish(note)

    def _public_note(self, cp: Checkpoint) -> bytes | None:
        """The public checkpoint if it names tree ``cp`` (signed by the log), else None."""
        try:
            current = self.store.get(CHECKPOINT_KEY)
            public = parse_checkpoint(open_note(current, [self.verifier]).text)
        except TlogError:
            return None
        return current if (public.size, public.root_hash) == (cp.size, cp.root_hash) else None

    def _reject(self, item: str, doc: bytes, reason: str) -> None:
        """Store the reason under the submission's id; drop a single-submission object
        (a bulk object is dropped when its batch is done). Whatever the document holds,
        this files a bounded record (``format_rejection``): a document that could fail
        here would stay queued and stop every later run."""
        sid = _submission_id(doc) if _is_line(item) else item_name(item).removesuffix(".json")
        self.queue.overwrite(f"{REJECTED_PREFIX}{sid}.json", format_rejection(sid, reason, doc))
        if not _is_line(item):
            self.queue.delete(item)


def _chunks(keys: list[str], most: int, objects: int | None = None) -> list[list[str]]:
    """Queue objects grouped so that each group holds about ``most`` submissions (and at most
    ``objects`` objects)."""
    out: list[list[str]] = [[]]
    total = 0
    for key in keys:
        n = queued_count(key)
        if out[-1] and (total + n > most or len(out[-1]) == objects):
            out.append([])
            total = 0
        out[-1].append(key)
        total += n
    return [c for c in out if c]


def _is_line(item: str) -> bool:
    """Whether an item id is a line of a bulk object (``<key>.jsonl#``); any other is a
    queue object's key, whatever characters it holds."""
    return item.endswith(BULK_SUFFIX + "#")


def _single(items: Sequence[str]) -> list[str]:
    """The single-submission queue objects among item ids."""
    return [i for i in items if not _is_line(i)]


def _submission_id(doc: bytes) -> str:
    from tlog.entries import submission_id

    try:
        return submission_id(doc)
    except TlogError:
        return hashlib.sha256(doc).hexdigest()


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


def _default_stream(workers: int) -> Callable[[Iterable[Any]], Iterator[Any]]:
    from tlog.client.admission import admit_stream

    return lambda chunks: admit_stream(chunks, workers)


def _streaming(admit: Callable[[Sequence[bytes]], list[Any]]) -> Callable[..., Iterator[Any]]:
    """A plain ``admit(docs) -> results`` (tests, plugins' tools) run chunk by chunk."""

    def stream(chunks: Iterable[tuple[Any, Sequence[bytes]]]) -> Iterator[Any]:
        for tag, docs in chunks:
            yield tag, admit(docs)

    return stream


def tile_paths_for(size: int) -> list[str]:
    """Every hash tile and entry bundle a tree of this size needs (for checks and tests)."""
    from tlog.tiles import bundles_for_size, tiles_for_size

    return [t.path for t in tiles_for_size(size)] + [t.path for t in bundles_for_size(size)]
