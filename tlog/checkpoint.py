"""C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed tree head's text.

::

    example.com/log
    8
    XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tlog.errors import MalformedError, VerificationError
from tlog.note import ALG_ED25519, Note, Verifier, open_note

__all__ = ["Checkpoint", "format_checkpoint", "open_checkpoint", "parse_checkpoint"]

_SIZE = re.compile(r"0|[1-9][0-9]*")
MAX_TEXT = 1_000_000


@dataclass(frozen=True)
class Checkpoint:
    """Origin, tree size and root hash (plus discouraged extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return format_checkpoint(self)


def format_checkpoint(cp: Checkpoint) -> str:
    """The checkpoint's note text."""
    if not cp.origin or "\n" in cp.origin or len(cp.root_hash) != 32 or not 0 <= cp.size < 1 << 63:
        raise MalformedError("checkpoint needs an origin, a size and a 32-byte root")
    ext = "".join(e + "\n" for e in cp.extensions)
    return f"{cp.origin}\n{cp.size}\n{base64.b64encode(cp.root_hash).decode()}\n{ext}"


def parse_checkpoint(text: str) -> Checkpoint:
    """Strict parse (torchwood rules): canonical size and root, non-empty extension lines."""
    if not isinstance(text, str) or len(text) > MAX_TEXT or not text.endswith("\n"):
        raise MalformedError("checkpoint text must end in a newline", field="checkpoint")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError(
            "checkpoint needs origin, size and root hash lines", field="checkpoint"
        )
    origin, size, root, *ext = lines
    if not origin:
        raise MalformedError("empty origin line", field="checkpoint.origin")
    if not _SIZE.fullmatch(size) or int(size) >= 1 << 63:
        raise MalformedError(
            f"tree size {size!r} is not a canonical decimal", field="checkpoint.size"
        )
    try:
        raw = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError("root hash is not base64", field="checkpoint.root") from e
    if len(raw) != 32 or base64.b64encode(raw).decode() != root:
        raise MalformedError(
            "root hash is not a canonical 32-byte base64 value", field="checkpoint.root"
        )
    if any(not e for e in ext):
        raise MalformedError("empty extension line", field="checkpoint")
    return Checkpoint(origin, int(size), raw, tuple(ext))


def open_checkpoint(
    msg: bytes, origin: str, verifiers: Iterable[Verifier]
) -> tuple[Checkpoint, Note]:
    """Open a signed checkpoint for ``origin``: a log Ed25519 signature must verify."""
    vs = list(verifiers)
    note = open_note(msg, vs)
    cp = parse_checkpoint(note.text)
    if cp.origin != origin:
        raise VerificationError(f"checkpoint origin {cp.origin!r} is not {origin!r}")
    eds = {(v.name, bytes(v.key_id)) for v in vs if getattr(v, "alg", ALG_ED25519) == ALG_ED25519}
    if not any((s.name, s.key_id) in eds for s in note.sigs):
        raise VerificationError("checkpoint carries no valid Ed25519 log signature")
    return cp, note
