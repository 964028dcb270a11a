"""Queueing submissions: check each document exactly as admission will, then write them to
the queue (one object for one document, bulk objects for many), all or nothing."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tlog.errors import (
    ConflictError,
    MalformedError,
    NotFoundError,
    NotPublishedError,
    TlogError,
    VerificationError,
)

__all__ = ["queue_admitted", "queue_documents", "wait_for_entry"]

_CHECK_CHUNK = 4096  # documents verified between progress updates


def _put(store: Any, key: str, data: bytes, sid: str) -> None:
    from tlog.entries.submission import submission_id

    try:
        store.put(key, data)
    except ConflictError:
        # Same statement queued earlier in another byte form: still the same submission.
        if submission_id(store.get(key)) != sid:
            raise


def queue_admitted(store: Any, admitted: Any, canonical: bytes) -> str:
    """Queue one admitted submission (its RFC 8785 bytes) as its own object; the key."""
    from tlog.queue import single_key

    key = single_key(admitted.submission_id)
    _put(store, key, canonical, admitted.submission_id)
    return key


def queue_documents(
    store: Any, docs: Sequence[tuple[str, bytes]], *, workers: int | None = None,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Check every (source, document) as admission will, then queue them all; nothing is
    queued if any fails (the error names the source and the field). Returns receipts.
    ``progress.update(n)`` (a click progress bar) counts checks, then writes."""
    from tlog.entries.canonical import canonical_json
    from tlog.entries.submission import Admitted, load_document
    from tlog.queue import BULK_BYTES, BULK_MAX, bulk_key

    from .admission import admit_many

    results: list[Any] = []
    for i in range(0, len(docs), _CHECK_CHUNK):
        part = docs[i : i + _CHECK_CHUNK]
        results += admit_many([d for _, d in part], workers=workers)
        if progress is not None:
            progress.update(len(part))
    bad = [(src, r) for (src, _), r in zip(docs, results, strict=True)
           if not isinstance(r, Admitted)]
    if bad:
        src, err = bad[0]
        more = f" (and {len(bad) - 1} more invalid)" if len(bad) > 1 else ""
        family = type(err) if isinstance(err, MalformedError | VerificationError) else TlogError
        raise family(f"{src + ': ' if src else ''}{err}{more}")
    admitted: list[Admitted] = [r for r in results if isinstance(r, Admitted)]
    receipts = [{"submission_id": adm.submission_id, "type": adm.type,
                 "leaf_hash": adm.leaf_hash.hex(), "search_keys": list(adm.search_keys),
                 "source": src} for (src, _), adm in zip(docs, admitted, strict=True)]
    bodies = [canonical_json(load_document(data)) for _, data in docs]
    if len(bodies) == 1:  # one submission: its own object, named by its id
        objects = [queue_admitted(store, admitted[0], bodies[0])]
        where = [0]
    else:  # many: bulk objects of up to BULK_MAX lines and BULK_BYTES, written in parallel
        where, groups, size = [], [[]], 0
        for body in bodies:
            if groups[-1] and (len(groups[-1]) == BULK_MAX or size + len(body) > BULK_BYTES):
                groups.append([])
                size = 0
            groups[-1].append(body)
            size += len(body) + 1
            where.append(len(groups) - 1)
        parts = [b"\n".join(g) + b"\n" for g in groups]
        objects = [bulk_key(p, len(g)) for p, g in zip(parts, groups, strict=True)]
        with ThreadPoolExecutor(min(8, len(parts))) as pool:
            list(pool.map(lambda kp: store.put(*kp), zip(objects, parts, strict=True)))
    for i, r in enumerate(receipts):
        r["queue_object"] = objects[where[i]]
    if progress is not None:
        progress.update(len(docs))
    return receipts




_SKEW = 60.0  # seconds the sequencer's clock may be behind the submitter's


def wait_for_entry(
    client: Any, leaf: bytes, *, queue: Any = None, submission_id: str = "",
    pending: str = "", queued_at: float | None = None, timeout: float = 60.0,
    interval: float = 0.5, sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Poll the log until a published checkpoint includes the entry with ``leaf``; the
    verified entry. Stops early when the sequencer stored a rejection for the submission
    (VerificationError with its reason); NotPublishedError when ``timeout`` passes first.
    A rejection stored before this submission (``pending``, its queue object, still there;
    or a record older than ``queued_at``) is an earlier run's: the log's configuration may
    have changed since, so it is waited past, and named if the time runs out."""
    deadline = clock() + timeout
    earlier = None
    while True:
        client.refresh()
        try:
            return client.find(leaf)
        except NotFoundError:
            pass
        if queue is not None and submission_id:
            try:
                record = json.loads(queue.get(f"rejected/{submission_id}.json"))
            except NotFoundError:
                record = None
            except ValueError:
                record = {"reason": "(unreadable rejection record)"}
            if record is not None and not isinstance(record, dict):
                record = {"reason": "(unreadable rejection record)"}
            if record is not None:
                if not _earlier(record, queue, pending, queued_at):
                    raise VerificationError(f"the log rejected submission {submission_id}: "
                                            f"{record.get('reason', '(no reason stored)')}")
                earlier = record
        if clock() >= deadline:
            said = "" if earlier is None else (
                f" A run rejected it before ({earlier.get('rejected_at', '?')}: "
                f"{earlier.get('reason', '(no reason stored)')}); unless the log's "
                "configuration changed since, the next run will too.")
            raise NotPublishedError(
                f"submission {submission_id or leaf.hex()} is queued but no published "
                f"checkpoint includes it after {timeout:g} s: is the sequencer running? "
                f"Nothing is lost: it stays queued.{said}")
        sleep(interval)


def _earlier(record: dict[str, Any], queue: Any, pending: str, queued_at: float | None) -> bool:
    """Whether a rejection record predates the submission being waited for."""
    if pending and queue.exists(pending):
        return True  # not taken by a run yet: whatever is stored is an earlier run's
    when = record.get("rejected_at")
    if queued_at is None or not isinstance(when, str):
        return False
    try:
        stamp = calendar.timegm(time.strptime(when, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return False
    return stamp < queued_at - _SKEW
