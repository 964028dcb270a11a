"""Signed submission types: parsed, verified on admission, turned into canonical entry bytes.

Built-in types: ``hashedrekord`` (Rekor v2 compatible), ``dsse`` (Rekor v2 dsse v0.0.2
compatible) and ``intoto-link``; further types plug in through the entry-point group
``tiledlog.types`` (see ``registry.EntryType``). Formats: docs/submissions.md.

    admit(doc_bytes) -> Admitted(type, entry, leaf_hash, search_keys, submission_id)
    decode_entry(entry) -> (type name, JSON body); verify_entry(entry); describe_entry(entry)
"""

from __future__ import annotations

from .canonical import canonical_json
from .keys import key_fingerprint, load_public_key
from .registry import (
    EntryType,
    decode_entry,
    describe_entry,
    entry_index_keys,
    entry_search_keys,
    reload_types,
    types,
    verify_entry,
)
from .submission import (
    MAX_DOCUMENT,
    MAX_ENTRY,
    Admitted,
    LogEntry,
    admit,
    load_document,
    submission_id,
)

__all__ = [
    "MAX_DOCUMENT",
    "MAX_ENTRY",
    "Admitted",
    "EntryType",
    "LogEntry",
    "admit",
    "canonical_json",
    "decode_entry",
    "describe_entry",
    "entry_index_keys",
    "entry_search_keys",
    "hashedrekord_submission",
    "key_search_key",
    "load_document",
    "reload_types",
    "submission_id",
    "types",
    "verify_entry",
]


def hashedrekord_submission(
    artifact: bytes, signature: bytes, public_key: bytes, *, certificate: bool = False
) -> bytes:
    """The submission document (JSON bytes) for an artifact, its signature (raw or base64)
    and the signer's key or certificate (PEM or DER)."""
    from .build import build_hashedrekord

    doc = build_hashedrekord(artifact, None, signature, public_key, certificate=certificate)
    return canonical_json(doc)


def key_search_key(key_file: bytes) -> str:
    """The search key (``key:<hex>``) of a public key or certificate file (PEM or DER)."""
    return key_fingerprint(load_public_key(bytes(key_file), "public_key").spki)

