"""The staging bundle: every object one batch will publish, written as ONE object before the commit.

If the sequencer dies after the commit point (the lock's compare-and-swap) but before all tiles are
applied, the next run finds the bundle named after the committed tree and applies it again. The
bundle is named ``sequencer/staging/<size>-<root hex>``, so a bundle for a tree that lost the race
can never be mistaken for the committed one.

A log in a folder stages differently, to write no byte twice: each object is staged as its own
file and the bundle, ``<size>-<root hex>-<nonce>``, names them (``"linked"``); applying is then
hard-linking each file into place. Files are ``<bundle path>~<object path, '/' as '~'>`` (object
paths hold no '~'), or ``<base size>+<nonce>~…`` for full tiles staged while the batch is still
being admitted. The nonce is the sequencer's own: two of them building the same tree at once
stage apart.

Wire format (all lengths big-endian)::

    b"tiledlog-staging/v1\\n"
    uint32 count
    count × ( uint16 len(path) ‖ path utf-8 ‖ uint32 len(data) ‖ data )
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from tlog.errors import MalformedError

__all__ = [
    "STAGING_PREFIX",
    "decode_staging",
    "encode_staging",
    "parse_staging_path",
    "staged_file",
    "staging_path",
]

MAGIC = b"tiledlog-staging/v1\n"
STAGING_PREFIX = "sequencer/staging/"


def staging_path(size: int, root: bytes, nonce: str = "") -> str:
    """Where the staging bundle of the tree (size, root) lives (``-<nonce>`` appended for
    a bundle that names staged files, which are one sequencer's own)."""
    return f"{STAGING_PREFIX}{size}-{root.hex()}" + (f"-{nonce}" if nonce else "")


def staged_file(spath: str, path: str) -> str:
    """Where the object ``path`` of the bundle ``spath`` is staged as a file of its own."""
    if "~" in path:
        raise MalformedError(f"object path {path!r} cannot be staged as a file (it holds '~')")
    return f"{spath}~{path.replace('/', '~')}"


def parse_staging_path(path: str) -> tuple[int, bytes]:
    """Inverse of ``staging_path`` (and, for a staged file, its bundle's size and root)."""
    name = path.removeprefix(STAGING_PREFIX).partition("~")[0]
    size, _, root = name.partition("-")
    root, _, nonce = root.partition("-")
    if not size.isdigit() or len(root) != 64 or (nonce and not nonce.isalnum()):
        raise MalformedError(f"not a staging bundle path: {path!r}")
    try:
        return int(size), bytes.fromhex(root)
    except ValueError as e:
        raise MalformedError(f"not a staging bundle path: {path!r}") from e


def encode_staging(objects: Mapping[str, bytes]) -> bytes:
    """Serialise path → bytes, in sorted path order (deterministic)."""
    parts = [MAGIC, struct.pack(">I", len(objects))]
    for path in sorted(objects):
        p = path.encode()
        data = objects[path]
        parts += [struct.pack(">H", len(p)), p, struct.pack(">I", len(data)), data]
    return b"".join(parts)


def decode_staging(blob: bytes) -> dict[str, bytes]:
    """Parse a staging bundle; anything truncated or trailing is malformed."""
    if not blob.startswith(MAGIC):
        raise MalformedError("staging bundle: bad magic")
    pos = len(MAGIC)
    try:
        (count,) = struct.unpack_from(">I", blob, pos)
        pos += 4
        out: dict[str, bytes] = {}
        for _ in range(count):
            (plen,) = struct.unpack_from(">H", blob, pos)
            path = blob[pos + 2 : pos + 2 + plen].decode()
            pos += 2 + plen
            (dlen,) = struct.unpack_from(">I", blob, pos)
            data = blob[pos + 4 : pos + 4 + dlen]
            if len(data) != dlen:
                raise MalformedError("staging bundle: truncated object")
            pos += 4 + dlen
            out[path] = data
    except (struct.error, UnicodeDecodeError) as e:
        raise MalformedError(f"staging bundle: truncated or corrupt ({e})") from e
    if pos != len(blob):
        raise MalformedError("staging bundle: trailing bytes")
    return out
