"""Reading the queue and admission (README step 2, and the rejections of step 3).

A batch is the queue objects holding about ``batch_size`` submissions; they are read a few at
a time, each only up to its size limit, and handed to admission in worker-sized chunks while
earlier batches commit. Every item ends logged, a duplicate, or rejected here with a stored,
bounded reason (``sequencer.rejection``): an item that could fail its own rejection would stay
queued and stop every later run.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tlog.client.admission import task_spans
from tlog.entries.submission import MAX_DOCUMENT
from tlog.errors import NotFoundError, TlogError
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

from .config import LogConfig
from .rejection import format_rejection

__all__ = ["ADMIT_BYTES", "ADMIT_CHUNK", "Chunk", "Intake", "is_line", "plain_stream",
           "pool_stream", "single_items"]

ADMIT_CHUNK = 10_000  # submissions read from the queue at a time (bounds memory)
ADMIT_BYTES = 64 << 20  # and about this many bytes of them
READ_GROUP = 64  # queue objects read in one go (get_many)
_BULK_LIMIT = BULK_BYTES + MAX_DOCUMENT  # bytes of one bulk object (its last line may straddle)
_READ_THREADS = 16  # queue objects read at once


@dataclass
class Chunk:
    """Documents read from the queue for one admission task, and where they stand in their
    batch (``keys``: the batch's queue objects, on its first chunk; ``last``: its last)."""

    items: list[tuple[str, bytes]]
    keys: list[str] | None
    last: bool


class Intake:
    """The queue side of a run: which objects form the next batch, their documents as
    admission tasks, and the rejections. ``taken``: objects of batches not yet finished;
    ``strays``: objects rejected unread or whole (a bad name, too large)."""

    def __init__(self, cfg: LogConfig, queue: Any, workers: int) -> None:
        self.cfg, self.queue, self.workers = cfg, queue, workers
        self.taken: set[str] = set()
        self.strays = 0

    def feed(
        self, max_entries: int | None, should_stop: Callable[[], bool] | None
    ) -> Iterator[tuple[Chunk, Sequence[bytes]]]:
        """The queue, batch by batch, as admission tasks. A batch is the queue objects
        holding about ``batch_size`` submissions (a bulk object goes whole into one batch);
        none is started once ``max_entries`` submissions are out, or once asked to stop."""
        todo = max_entries
        while (todo is None or todo > 0) and not (should_stop and should_stop()):
            limit = self.cfg.batch_size if todo is None else min(todo, self.cfg.batch_size)
            keys = self._next_batch(limit, exclude=self.taken)
            if not keys:
                return
            self.taken.update(keys)
            pieces = self._pieces(keys)
            piece: list[tuple[str, bytes]] | None = next(pieces)
            first = True
            while piece is not None:
                if todo is not None:
                    todo -= len(piece)
                spans = [piece[a:b] for a, b in task_spans(len(piece), self.workers)] or [[]]
                for span in spans[:-1]:
                    yield Chunk(span, keys if first else None, False), [d for _, d in span]
                    first = False
                following = next(pieces, None)  # read on only once this piece is out
                yield Chunk(spans[-1], keys if first else None, following is None), [
                    d for _, d in spans[-1]]
                first, piece = False, following

    def _pieces(self, keys: list[str]) -> Iterator[list[tuple[str, bytes]]]:
        """A batch's queue objects, read a few at a time, as pieces of at most
        ``ADMIT_CHUNK`` submissions and about ``ADMIT_BYTES``: what the run holds of the
        queue at once, besides the documents in flight (at least one piece, maybe empty)."""
        piece: list[tuple[str, bytes]] = []
        held = pieces = 0
        for group in _chunks(keys, ADMIT_CHUNK, READ_GROUP):
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
        self.strays += 1
        self.reject(key, data, reason)

    def reject(self, item: str, doc: bytes, reason: str) -> None:
        """Store the reason under the submission's id; drop a single-submission object
        (a bulk object is dropped when its batch is done). Whatever the document holds,
        this files a bounded record (``format_rejection``): a document that could fail
        here would stay queued and stop every later run."""
        sid = _submission_id(doc) if is_line(item) else item_name(item).removesuffix(".json")
        self.queue.overwrite(f"{REJECTED_PREFIX}{sid}.json", format_rejection(sid, reason, doc))
        if not is_line(item):
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


def is_line(item: str) -> bool:
    """Whether an item id is a line of a bulk object (``<key>.jsonl#``); any other is a
    queue object's key, whatever characters it holds."""
    return item.endswith(BULK_SUFFIX + "#")


def single_items(items: Sequence[str]) -> list[str]:
    """The single-submission queue objects among item ids."""
    return [i for i in items if not is_line(i)]


def _submission_id(doc: bytes) -> str:
    from tlog.entries import submission_id

    try:
        return submission_id(doc)
    except TlogError:
        return hashlib.sha256(doc).hexdigest()


def pool_stream(workers: int, x509_roots: tuple[bytes, ...] = ()
                ) -> Callable[[Iterable[Any]], Iterator[Any]]:
    """Admission on the process pool; with X.509 roots, certificates are checked against
    them, valid at the time the run starts."""
    from tlog.client.admission import X509Policy, admit_stream

    def stream(chunks: Iterable[Any]) -> Iterator[Any]:
        policy = X509Policy(x509_roots, int(time.time())) if x509_roots else None
        return admit_stream(chunks, workers, x509=policy)

    return stream


def plain_stream(admit: Callable[[Sequence[bytes]], list[Any]]) -> Callable[..., Iterator[Any]]:
    """A plain ``admit(docs) -> results`` (tests, plugins' tools) run chunk by chunk."""

    def stream(chunks: Iterable[tuple[Any, Sequence[bytes]]]) -> Iterator[Any]:
        for tag, docs in chunks:
            yield tag, admit(docs)

    return stream
