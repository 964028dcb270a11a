"""Names of queue objects, shared by ``tlog submit`` (the writer) and the sequencer (the reader).

A queue location (``--queue ./queue``, ``s3://private/queue``) holds ``pending/`` (what waits
to be logged) and ``rejected/`` (why what was refused was refused).
``pending/<submission id>.json`` holds one submission document (RFC 8785 form). A bulk object
``pending/<sha256 of its bytes>-<count>.jsonl`` holds ``count`` documents, one per line: what
``tlog submit`` writes for many documents at once, so a bulk import of 100,000 submissions is
10 objects rather than 100,000. The sequencer consumes a bulk object whole, in one batch.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "BULK_BYTES",
    "BULK_MAX",
    "BULK_SUFFIX",
    "LEGACY_QUEUE_PREFIX",
    "QUEUE_PREFIX",
    "REJECTED_PREFIX",
    "bulk_key",
    "item_name",
    "queued_count",
    "single_key",
]

QUEUE_PREFIX = "pending/"
LEGACY_QUEUE_PREFIX = "queue/"  # before 0.2: still drained, never written
REJECTED_PREFIX = "rejected/"
BULK_SUFFIX = ".jsonl"
BULK_MAX = 10_000  # documents per bulk object: one batch's worth at the default batch size
BULK_BYTES = 64 << 20  # and at most this many bytes (unless one document is larger)


def item_name(key: str) -> str:
    """A queue object's key without its folder (``pending/`` or the legacy ``queue/``)."""
    return key.removeprefix(QUEUE_PREFIX) if key.startswith(QUEUE_PREFIX) else \
        key.removeprefix(LEGACY_QUEUE_PREFIX)


def single_key(submission_id: str) -> str:
    """The queue key of one submission."""
    return f"{QUEUE_PREFIX}{submission_id}.json"


def bulk_key(body: bytes, count: int) -> str:
    """The queue key of a bulk object: its content hash (so resubmitting is harmless) and
    how many submissions it holds (so a reader can size a batch from a listing)."""
    return f"{QUEUE_PREFIX}{hashlib.sha256(body).hexdigest()}-{count}{BULK_SUFFIX}"


def queued_count(key: str) -> int:
    """How many submissions a queue object holds, by its name (0: not a queue object)."""
    if key.endswith(".json"):
        return 1
    if key.endswith(BULK_SUFFIX):
        _, _, count = key.removesuffix(BULK_SUFFIX).rpartition("-")
        return int(count) if count.isdigit() and int(count) > 0 else 1
    return 0
