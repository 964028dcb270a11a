"""Proof bundles: a stapled proof that an entry is in a log, verifiable offline.

A bundle holds an entry, its index, its RFC 6962 inclusion proof and the signed checkpoint (with
any witness cosignatures) the proof leads to. Two encodings carry the same facts.

**JSON** (``tlog bundle``, the default; file extension ``.bundle.json``)::

    {
      "format": "tiledlog-bundle/v1",
      "index": 5,
      "entry": "eyJhcGlWZXJzaW9uIjoiMC4wLjEi…",
      "inclusion_proof": [
        "bwOgHg2KwIGxAH0fyMsFoRkG1ixsXZk1AY0Mwy4b+yg=",
        "…"
      ],
      "checkpoint": "example.com/log\\n70000\\nXcnaeacGWa…=\\n\\n— example.com/log Az3g…\\n"
    }

- ``format``: exactly ``tiledlog-bundle/v1``.
- ``index``: the entry's zero-based index in the log (decimal integer, below 2^63).
- ``entry``: standard base64 (RFC 4648 §4, padded) of the entry bytes, i.e. the leaf input: the
  leaf hash is SHA-256(0x00 ‖ entry).
- ``inclusion_proof``: the audit path, one standard-base64 SHA-256 hash per item, from the leaf's
  sibling up to the root's child (RFC 6962 §2.1.1); empty for a tree of one entry.
- ``checkpoint``: the signed checkpoint note exactly as the log served it: checkpoint text, a
  blank line, the log's signature line and any cosignature lines (c2sp.org/signed-note).

No other member is allowed, and no member may repeat. Tree size and root come only from the
signed checkpoint, so nothing in the file needs trusting before the signature is checked.

**C2SP tlog-proof** (https://c2sp.org/tlog-proof, ``--format tlog-proof``, ``.tlog-proof``)::

    c2sp.org/tlog-proof@v1
    extra eyJhcGlWZXJzaW9uIjoiMC4wLjEi…
    index 5
    bwOgHg2KwIGxAH0fyMsFoRkG1ixsXZk1AY0Mwy4b+yg=
    …

    example.com/log
    70000
    XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=

    — example.com/log Az3grl…

The spec leaves the ``extra`` line's meaning to the application: ours is the entry bytes
(base64), the data needed to recompute the leaf hash. It is unauthenticated until the inclusion
proof of its leaf hash checks out; a proof without it needs the entry from elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from tlog.errors import MalformedError
from tlog.merkle import HASH_SIZE

__all__ = [
    "BUNDLE_FORMAT",
    "TLOG_PROOF_HEADER",
    "ProofBundle",
    "format_bundle",
    "format_tlog_proof",
    "parse_any_bundle",
    "parse_bundle",
    "parse_tlog_proof",
]

BUNDLE_FORMAT = "tiledlog-bundle/v1"
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_BUNDLE = 4 << 20  # a checkpoint with 100 ML-DSA cosignatures plus a 64 KiB entry fits
MAX_PROOF = 63  # indexes and sizes stay below 2^63
_MAX_INDEX = (1 << 63) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_FIELDS = ("format", "index", "entry", "inclusion_proof", "checkpoint")


@dataclass(frozen=True)
class ProofBundle:
    """An entry (``None`` if the proof does not carry it), its index, proof and checkpoint note."""

    index: int
    entry: bytes | None
    proof: tuple[bytes, ...]
    checkpoint: bytes


def _b64(text: Any, field: str) -> bytes:
    if not isinstance(text, str):
        raise MalformedError("expected a base64 string", field=field)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError(f"invalid base64: {e}", field=field) from e
    if base64.b64encode(raw).decode() != text:
        raise MalformedError("base64 is not in canonical padded form", field=field)
    return raw


def _hash(text: Any, field: str) -> bytes:
    raw = _b64(text, field)
    if len(raw) != HASH_SIZE:
        raise MalformedError(f"expected a {HASH_SIZE}-byte hash, got {len(raw)}", field=field)
    return raw


def _check(b: ProofBundle) -> None:
    if not isinstance(b.index, int) or isinstance(b.index, bool) or not 0 <= b.index <= _MAX_INDEX:
        raise MalformedError("index must be an integer in 0..2^63-1", field="index")
    if len(b.proof) > MAX_PROOF or any(len(h) != HASH_SIZE for h in b.proof):
        raise MalformedError("inclusion proof must be at most 63 hashes of 32 bytes",
                             field="inclusion_proof")
    if not b.checkpoint.endswith(b"\n"):
        raise MalformedError("signed checkpoint must end in a newline", field="checkpoint")


def format_bundle(b: ProofBundle) -> bytes:
    """The JSON encoding (see the module docstring); needs the entry."""
    _check(b)
    if b.entry is None:
        raise MalformedError("a JSON bundle must carry the entry", field="entry")
    try:
        note = b.checkpoint.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedError("signed checkpoint is not UTF-8", field="checkpoint") from e
    doc = {
        "format": BUNDLE_FORMAT,
        "index": b.index,
        "entry": base64.b64encode(b.entry).decode(),
        "inclusion_proof": [base64.b64encode(h).decode() for h in b.proof],
        "checkpoint": note,
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise MalformedError("member appears twice", field=k)
        out[k] = v
    return out


def parse_bundle(data: bytes) -> ProofBundle:
    """Parse the JSON encoding strictly (types, canonical base64, no unknown members)."""
    if len(data) > MAX_BUNDLE:
        raise MalformedError(f"bundle is larger than {MAX_BUNDLE} bytes", field="bundle")
    try:
        doc = json.loads(bytes(data).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise MalformedError(f"not a JSON document: {e}", field="bundle") from e
    if not isinstance(doc, dict):
        raise MalformedError("expected a JSON object", field="bundle")
    for name in doc:
        if name not in _FIELDS:
            raise MalformedError("unknown member", field=name)
    for name in _FIELDS:
        if name not in doc:
            raise MalformedError("missing member", field=name)
    if doc["format"] != BUNDLE_FORMAT:
        raise MalformedError(f"expected {BUNDLE_FORMAT!r}", field="format")
    proof = doc["inclusion_proof"]
    if not isinstance(proof, list) or len(proof) > MAX_PROOF:
        raise MalformedError("expected a list of at most 63 hashes", field="inclusion_proof")
    if not isinstance(doc["checkpoint"], str):
        raise MalformedError("expected the signed checkpoint as a string", field="checkpoint")
    b = ProofBundle(
        index=doc["index"],
        entry=_b64(doc["entry"], "entry"),
        proof=tuple(_hash(h, f"inclusion_proof[{i}]") for i, h in enumerate(proof)),
        checkpoint=doc["checkpoint"].encode(),
    )
    _check(b)
    return b


def format_tlog_proof(b: ProofBundle) -> bytes:
    """The c2sp.org/tlog-proof@v1 text; the entry, if any, goes on the ``extra`` line."""
    _check(b)
    lines = [TLOG_PROOF_HEADER]
    if b.entry:
        lines.append("extra " + base64.b64encode(b.entry).decode())
    lines.append(f"index {b.index}")
    lines += [base64.b64encode(h).decode() for h in b.proof]
    return ("\n".join(lines) + "\n\n").encode() + b.checkpoint


def parse_tlog_proof(data: bytes) -> ProofBundle:
    """Parse c2sp.org/tlog-proof@v1 text; the checkpoint note is kept verbatim, unverified."""
    if len(data) > MAX_BUNDLE:
        raise MalformedError(f"proof is larger than {MAX_BUNDLE} bytes", field="tlog-proof")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedError("proof is not UTF-8", field="tlog-proof") from e
    lines = text.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise MalformedError(f"first line must be {TLOG_PROOF_HEADER!r}", field="tlog-proof")
    pos, entry = 1, None
    if pos < len(lines) and lines[pos].startswith("extra "):
        entry = _b64(lines[pos][len("extra "):], "extra")
        if not entry:
            raise MalformedError("empty extra data (the line should be omitted)", field="extra")
        pos += 1
    line = lines[pos] if pos < len(lines) else ""
    if not line.startswith("index ") or not _DECIMAL.fullmatch(line[len("index "):]):
        raise MalformedError("expected 'index <decimal without leading zeros>'", field="index")
    index = int(line[len("index "):])
    pos += 1
    proof = []
    while pos < len(lines) and lines[pos]:
        proof.append(_hash(lines[pos], f"proof line {len(proof) + 1}"))
        pos += 1
    if pos >= len(lines) - 1:
        raise MalformedError("missing the blank line and checkpoint after the proof",
                             field="checkpoint")
    b = ProofBundle(index, entry, tuple(proof), "\n".join(lines[pos + 1 :]).encode())
    _check(b)
    return b


def parse_any_bundle(data: bytes) -> ProofBundle:
    """Parse either encoding, told apart by the tlog-proof header line."""
    if bytes(data[: len(TLOG_PROOF_HEADER)]) == TLOG_PROOF_HEADER.encode():
        return parse_tlog_proof(data)
    return parse_bundle(data)
