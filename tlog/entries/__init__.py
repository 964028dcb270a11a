"""Signed submission types: parsed, verified on admission, turned into canonical entry bytes.

Types are found through the entry-point group ``tiledlog.types``; each provides ``parse(doc)``,
``verify(parsed)``, ``canonical(parsed) -> bytes`` and, for logged entries (canonical JSON with
``kind`` and ``apiVersion``), ``search_keys``, ``reverify`` and ``describe``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from tlog.errors import MalformedError, TlogError
from tlog.merkle import leaf_hash

from .canonical import canonical_json
from .keys import key_fingerprint, load_verifier

__all__ = [
    "MAX_DOCUMENT",
    "Admitted",
    "admit",
    "admit_many",
    "canonical_json",
    "decode_entry",
    "describe_entry",
    "entry_search_keys",
    "key_search_key",
    "submission_id",
    "types",
    "verify_entry",
]

MAX_DOCUMENT = 1 << 20
log = logging.getLogger("tiledlog.entries")
MAX_ENTRY = 0xFFFF


@dataclass(frozen=True)
class Admitted:
    """A verified submission and the entry it becomes."""

    type: str
    entry: bytes
    leaf_hash: bytes
    search_keys: tuple[str, ...]
    submission_id: str


@lru_cache(maxsize=1)
def types() -> dict[str, Any]:
    """The registered entry types by name."""
    found = {}
    for ep in entry_points(group="tiledlog.types"):
        try:
            t = ep.load()
        except ImportError as e:  # a broken plugin must not take the other types down
            log.warning("entry type %s could not be loaded: %s", ep.name, e)
            continue
        found[t.name] = t
    return found


def _type(name: Any) -> Any:
    known = types()
    if not isinstance(name, str) or name not in known:
        raise MalformedError(
            f"unknown entry type {name!r} (known: {', '.join(sorted(known))})", field="type"
        )
    return known[name]


def _load(doc: bytes) -> dict[str, Any]:
    if len(doc) > MAX_DOCUMENT:
        raise MalformedError(
            f"{len(doc)} bytes exceeds the {MAX_DOCUMENT}-byte limit", field="document"
        )
    try:
        value = json.loads(doc)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise MalformedError(f"not JSON: {e}", field="document") from e
    if not isinstance(value, dict):
        raise MalformedError("expected a JSON object", field="document")
    return value


def submission_id(doc: dict[str, Any]) -> str:
    """The id of a submission: SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def admit(doc: bytes) -> Admitted:
    """Parse and verify one submission document; typed errors name the field."""
    value = _load(doc)
    t = _type(value.get("type"))
    parsed = t.parse(value)
    t.verify(parsed)
    entry = t.canonical(parsed)
    if len(entry) > MAX_ENTRY:
        raise MalformedError(f"entry of {len(entry)} bytes exceeds 65535", field="document")
    fast = getattr(t, "parsed_search_keys", None)
    keys = tuple(fast(parsed) if fast else entry_search_keys(entry))
    return Admitted(t.name, entry, leaf_hash(entry), keys, submission_id(value))


def _admit_chunk(docs: Sequence[bytes]) -> list[Any]:
    out: list[Any] = []
    for d in docs:
        try:
            out.append(admit(d))
        except TlogError as e:
            out.append(type(e)(str(e)) if type(e) is not MalformedError else MalformedError(str(e)))
    return out


def admit_many(docs: Sequence[bytes], workers: int | None = None) -> list[Admitted | TlogError]:
    """Admit many documents on ``workers`` processes; each result is Admitted or the error."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(docs) < 64:
        return _admit_chunk(docs)
    size = max(32, min(512, len(docs) // (workers * 4) or 1))
    chunks = [docs[i : i + size] for i in range(0, len(docs), size)]
    with ProcessPoolExecutor(workers) as pool:
        return [r for part in pool.map(_admit_chunk, chunks) for r in part]


def decode_entry(entry: bytes) -> tuple[str, dict[str, Any]]:
    """A logged entry's type name and JSON body."""
    try:
        body = json.loads(entry)
        kind = body["kind"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise MalformedError("entry is not a tiledlog/Rekor JSON entry") from e
    for t in types().values():
        if getattr(t, "kind", t.name) == kind:
            return t.name, body
    raise MalformedError(f"unknown entry kind {kind!r}")


def _with_type(entry: bytes) -> tuple[Any, dict[str, Any]]:
    name, body = decode_entry(entry)
    return types()[name], body


def entry_search_keys(entry: bytes) -> list[str]:
    """Digests (``sha256:<hex>``) and key fingerprints (``key:<hex>``) an entry mentions."""
    t, body = _with_type(entry)
    try:
        return t.search_keys(body)
    except (KeyError, TypeError) as e:
        raise MalformedError(f"malformed {t.name} entry: {e}") from e


def verify_entry(entry: bytes) -> None:
    """Re-check a logged entry's signature(s) from the entry alone (monitors)."""
    t, body = _with_type(entry)
    try:
        t.reverify(body)
    except (KeyError, TypeError) as e:
        raise MalformedError(f"malformed {t.name} entry: {e}") from e


def describe_entry(entry: bytes) -> dict[str, Any]:
    """Type, digests and key fingerprints of a logged entry, for display."""
    t, body = _with_type(entry)
    return t.describe(body)


def hashedrekord_submission(
    artifact: bytes, signature: bytes, public_key: bytes, *, certificate: bool = False
) -> bytes:
    """The submission document (JSON bytes) for an artifact, its signature and the signer's key.

    The signature may be raw or base64 text; ``certificate`` marks an X.509 certificate.
    """
    from .cli import build_hashedrekord

    doc = build_hashedrekord(artifact, None, signature, public_key, certificate=certificate)
    return json.dumps(doc).encode()


def key_search_key(key_file: bytes) -> str:
    """The search key of a public key or certificate file (``key:<hex>``)."""
    v = load_verifier(key_file, "public_key")
    return key_fingerprint(v.spki)
