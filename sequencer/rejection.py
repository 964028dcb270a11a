"""The stored record of a rejected submission: ``rejected/<id>.json`` in the queue's store.

Whatever the document is (not JSON, nested a thousand deep, a gigabyte, not UTF-8), making
its record must not fail: one hostile document that crashes the batch stays queued and stops
every later run. So the record is bounded (the reason and the document are cut to fixed sizes)
and keeps the document as parsed JSON only when that is cheap and safe, as its text otherwise::

    {"id": "3f…", "reason": "hashedrekord.signature: does not verify …",
     "rejected_at": "2026-12-04T18:00:00Z", "submission": {…},
     "submission_bytes": 812, "submission_sha256": "9a…"}
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

__all__ = ["KEEP_BYTES", "REASON_CHARS", "format_rejection"]

KEEP_BYTES = 64 << 10  # of a rejected document, kept in its record
REASON_CHARS = 1000  # of the reason


def format_rejection(sid: str, reason: str, doc: bytes, when: float | None = None) -> bytes:
    """The record's bytes (pretty JSON, at most about ``KEEP_BYTES`` × 6 + ``REASON_CHARS``)."""
    if len(reason) > REASON_CHARS:
        reason = reason[: REASON_CHARS - 1] + "…"
    record: dict[str, Any] = {
        "id": sid,
        "reason": reason,
        "rejected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
        "submission_bytes": len(doc),
        "submission_sha256": hashlib.sha256(doc).hexdigest(),
    }
    parsed, value = _as_json(doc) if len(doc) <= KEEP_BYTES else (False, None)
    if parsed:
        record["submission"] = value
    else:  # not JSON, too deep or too large: its text, cut (undecodable bytes escaped)
        record["submission_text"] = doc[:KEEP_BYTES].decode("utf-8", "backslashreplace")
        record["submission_truncated"] = len(doc) > KEEP_BYTES
    return json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"


def _as_json(doc: bytes) -> tuple[bool, Any]:
    """(True, the document's JSON value), or (False, None) when it does not parse and
    re-encode within the interpreter's limits (the JSON module recurses once per level)."""
    try:
        value = json.loads(doc)
        json.dumps(value, indent=2)  # the record is written so: it must encode
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return False, None
    return True, value
