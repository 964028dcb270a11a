"""C2SP tlog-witness wire format (https://c2sp.org/tlog-witness): the ``add-checkpoint``
request body and the ``text/x.tlog.size`` body of a 409, as pure functions over bytes.

A request from a log whose witness is at size 6, for a checkpoint of size 8::

    old 6
    Drxd…72o=            ← consistency proof 6 → 8, one base64 hash per line (at most 63)
    yoVO…CuA=
    037k…FLc=
                         ← empty line
    example.com/log      ← the log-signed checkpoint note
    8
    Xcna…Qyg=

    — example.com/log 1FXF…Ewg=

The response to a good request is the witness's cosignature line(s), ``— <name> <base64>``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tlog.errors import MalformedError

__all__ = [
    "MAX_PROOF",
    "SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "format_add_checkpoint",
    "format_size",
    "parse_add_checkpoint",
    "parse_size",
    "signature_line",
]

MAX_PROOF = 63  # consistency-proof lines a request may carry
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed ``add-checkpoint`` request: the size the log thinks the witness has, the
    consistency proof from it, and the signed checkpoint note (bytes, unverified)."""

    old: int
    proof: tuple[bytes, ...]
    note: bytes


def format_add_checkpoint(old: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """The request body (the exact bytes a witness reads)."""
    if old < 0 or len(proof) > MAX_PROOF or any(len(h) != 32 for h in proof):
        raise MalformedError("bad old size or consistency proof", field="add-checkpoint")
    lines = [f"old {old}\n".encode()]
    lines += [base64.b64encode(h) + b"\n" for h in proof]
    return b"".join(lines) + b"\n" + bytes(note)


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse a request body; MalformedError says which part is wrong."""
    head, sep, note = bytes(body).partition(b"\n\n")
    if not sep:
        raise MalformedError("no empty line before the checkpoint", field="add-checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as e:
        raise MalformedError("header is not ASCII", field="add-checkpoint") from e
    first, proof_lines = lines[0], lines[1:]
    if not first.startswith("old ") or not _DECIMAL.fullmatch(first[4:]):
        raise MalformedError('first line must be "old <size>" (decimal, no leading zeros)',
                             field="add-checkpoint.old")
    if len(proof_lines) > MAX_PROOF:
        raise MalformedError(f"more than {MAX_PROOF} consistency proof lines",
                             field="add-checkpoint.proof")
    proof = []
    for i, line in enumerate(proof_lines):
        try:
            h = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError) as e:
            raise MalformedError("not base64", field=f"add-checkpoint.proof[{i}]") from e
        if len(h) != 32 or base64.b64encode(h).decode() != line:
            raise MalformedError("not a padded base64 32-byte hash",
                                 field=f"add-checkpoint.proof[{i}]")
        proof.append(h)
    if not note:
        raise MalformedError("no checkpoint after the empty line", field="add-checkpoint")
    return AddCheckpoint(int(first[4:]), tuple(proof), note)


def format_size(size: int) -> bytes:
    """The body of a 409 response: the witness's size for the log."""
    return f"{size}\n".encode()


def parse_size(body: bytes) -> int:
    """The size in a 409 response body."""
    text = bytes(body).decode("ascii", "replace").strip()
    if not _DECIMAL.fullmatch(text):
        raise MalformedError(f"expected a decimal size, got {text[:40]!r}", field="409 body")
    return int(text)


def signature_line(name: str, key_id: bytes, signature: bytes) -> bytes:
    """One note signature line: ``— <name> <base64(key id ‖ signature)>``."""
    return f"— {name} {base64.b64encode(key_id + signature).decode()}\n".encode()
