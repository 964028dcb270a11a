"""The commit point: the lock object (``sequencer/lock``) and the public ``checkpoint``.

The lock holds the log-signed checkpoint of the committed tree and the nonce of the run that
committed it; a compare-and-swap of it is the commit (README, step 6). The public checkpoint
only ever moves forward, to a tree the lock has committed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import dataclass
from typing import Any

from tlog.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint
from tlog.errors import ConfigError, ConflictError, NotFoundError, TlogError, VerificationError
from tlog.merkle import EMPTY_ROOT
from tlog.note import Verifier, new_signer, new_verifier, open_note, sign_note, vkey_for_skey

__all__ = [
    "CHECKPOINT_KEY",
    "LOCK_KEY",
    "Committed",
    "LostRace",
    "existing_log",
    "format_lock",
    "key_label",
    "parse_lock",
    "publish_empty_log",
    "read_committed",
    "should_replace",
    "signers_of",
]

LOCK_KEY = "sequencer/lock"
CHECKPOINT_KEY = "checkpoint"
_COMMIT_MARK = b"\n\ncommit "


@dataclass(frozen=True)
class Committed:
    """The committed tree: its signed note, checkpoint, and the lock's version (for the next
    compare-and-swap)."""

    note: bytes
    checkpoint: Checkpoint
    version: str


class LostRace(ConflictError):
    """Another sequencer committed first: the batch in progress (``pending``, in words) is
    not logged by this run."""

    def __init__(self, pending: str = "its batch in progress") -> None:
        super().__init__(f"another sequencer committed first; {pending} stay queued",
                         key=LOCK_KEY)
        self.pending = pending


def format_lock(note: bytes, nonce: str) -> bytes:
    """The lock's content: the committed checkpoint's signed note, then the committing run's
    nonce, so that a sequencer can tell its own landed commit from another's commit of the
    very same batch (Ed25519 is deterministic: two sequencers that build the same batch sign
    the same note)."""
    return note + b"\ncommit " + nonce.encode() + b"\n"


def parse_lock(data: bytes) -> tuple[bytes, str]:
    """(signed note, nonce) of a lock; a lock written before nonces (and the empty log's)
    is the bare note, with nonce "". A note's signature block never holds a blank line."""
    at = data.find(_COMMIT_MARK)
    if at < 0:
        return data, ""
    return data[: at + 1], data[at + len(_COMMIT_MARK):].strip().decode("ascii", "replace")


def read_committed(store: Any, verifier: Verifier, origin: str) -> Committed:
    """The committed tree of the log at ``store``, checked against the log's key and origin."""
    try:
        lock, version = store.fetch(LOCK_KEY)
    except NotFoundError as e:
        raise ConfigError(f"{store.url}: no log here yet (no {LOCK_KEY}); run `tlog init` "
                          "first") from e
    note, _ = parse_lock(lock)
    try:
        cp = parse_checkpoint(open_note(note, [verifier]).text)
    except VerificationError as e:
        raise VerificationError(
            f"{store.url}/{LOCK_KEY}: signed by {signers_of(note)}, but the configured "
            f"key is {key_label(verifier.vkey)}; point key.file/key.env at the key "
            "that signed this log (or init a new log elsewhere)") from e
    if cp.origin != origin:
        raise VerificationError(
            f"{LOCK_KEY}: origin {cp.origin!r} does not match the config's {origin!r}")
    return Committed(note, cp, version)


def existing_log(store: Any, origin: str, vkey: str) -> Checkpoint | None:
    """The committed checkpoint of the log already at ``store`` (None: there is none), checked
    against ``vkey`` and ``origin``; another key's or origin's log is an error saying whose."""
    try:
        lock, _ = store.fetch(LOCK_KEY)
    except NotFoundError:
        return None
    note, _ = parse_lock(lock)
    try:
        cp = parse_checkpoint(open_note(note, [new_verifier(vkey)]).text)
    except VerificationError as e:
        raise VerificationError(
            f"{store.url}/{LOCK_KEY}: a log already exists there, signed by {signers_of(note)}, "
            f"not by this key ({key_label(vkey)}); use that log's key, or another store"
        ) from e
    if cp.origin != origin:
        raise ConfigError(f"{store.url}: a log of origin {cp.origin!r} already exists there "
                          f"(size {cp.size}), not {origin!r}")
    return cp


def publish_empty_log(store: Any, origin: str, skey: str) -> bytes:
    """Create the lock and the public checkpoint of an empty log (``tlog init``)."""
    note = sign_note(format_checkpoint(Checkpoint(origin, 0, EMPTY_ROOT)), new_signer(skey))
    try:
        store.create(LOCK_KEY, note)
    except ConflictError:
        existing, _ = parse_lock(store.fetch(LOCK_KEY)[0])
        cp = parse_checkpoint(open_note(existing, [new_verifier(vkey_for_skey(skey))]).text)
        if cp.origin != origin:
            raise
        return existing
    with contextlib.suppress(ConflictError):
        store.create(CHECKPOINT_KEY, note)
    return note


def should_replace(current: bytes, note: bytes, cp: Checkpoint, verifier: Verifier) -> bool:
    """Whether the public checkpoint should move to ``note``: never backwards, never to fewer
    signatures on the same tree."""
    if current == note:
        return False
    try:
        public = open_note(current, [verifier])
        public_cp = parse_checkpoint(public.text)
    except TlogError:
        return True  # unreadable or foreign: the committed checkpoint replaces it
    if public_cp.size != cp.size:
        return public_cp.size < cp.size
    return len(public.sigs) + len(public.unverified) < note.count("\n— ".encode())


def key_label(vkey: str) -> str:
    """``name+keyhash`` of a verifier key: enough to tell keys apart in a message."""
    return "+".join(vkey.split("+")[:2])


def signers_of(note: bytes) -> str:
    """``name+keyhash`` of each signature line of a note (no verification), for messages."""
    out = []
    for line in note.decode("utf-8", "replace").split("\n\n")[-1].splitlines():
        name, _, sig = line.removeprefix("— ").partition(" ")
        try:
            out.append(f"{name}+{base64.b64decode(sig, validate=True)[:4].hex()}")
        except (binascii.Error, ValueError):
            continue
    return ", ".join(out) or "no signature line"
