"""C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature): Ed25519 ``cosignature/v1``.

A witness signs ``cosignature/v1\\ntime <T>\\n`` + the checkpoint text; the note signature line
carries key id (4, key type 0x04) ‖ timestamp (8, big-endian) ‖ Ed25519 signature (64)::

    — witness.example/w1 IDJKvgAAAABlU/EA5qoXb2upYCVvwU57HyfnAEFRmLcQJPcjxRBvQm06RwFL5yc6USs3…
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tlog.ed25519 import signer as ed25519_signer
from tlog.ed25519 import verify as verify_ed25519
from tlog.errors import MalformedError, VerificationError
from tlog.note import (
    ALG_ED25519,
    Ed25519Verifier,
    Note,
    Signature,
    Verifier,
    b64decode_field,
    format_skey,
    format_vkey,
    key_id,
    parse_vkey,
    split_key,
    valid_name,
)

__all__ = [
    "ALG_COSIGNATURE",
    "CosignatureSigner",
    "CosignatureVerifier",
    "cosignature_message",
    "cosignature_timestamp",
    "generate_cosignature_key",
    "new_cosignature_signer",
    "parse_any_verifier",
    "subtree_message",
    "witness_policy_check",
]

ALG_COSIGNATURE = 0x04
MAX_TIMESTAMP = (1 << 63) - 1


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes an Ed25519 cosigner signs."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint_text.encode()


def subtree_message(
    name: str, timestamp: int, origin: str, start: int, end: int, root: bytes
) -> bytes:
    """The ML-DSA-44 ``subtree/v1`` message (TLS encoding), for interop checks."""
    n, o = name.encode(), origin.encode()
    if not 1 <= len(n) <= 255 or not 1 <= len(o) <= 255 or len(root) != 32:
        raise MalformedError("subtree message needs names of 1..255 bytes and a 32-byte hash")
    return (
        b"subtree/v1\n\x00"
        + bytes([len(n)])
        + n
        + timestamp.to_bytes(8, "big")
        + bytes([len(o)])
        + o
        + start.to_bytes(8, "big")
        + end.to_bytes(8, "big")
        + root
    )


class CosignatureSigner:
    """A witness key: signs a checkpoint text with a timestamp (plugs into ``sign_note``)."""

    def __init__(self, name: str, seed: bytes, clock: Callable[[], float]) -> None:
        if not valid_name(name) or len(seed) != 32:
            raise MalformedError("cosigner needs a valid name and a 32-byte seed", field="skey")
        self.name, self._seed, self._clock = name, seed, clock
        self._sign = ed25519_signer(seed)
        self.public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, ALG_COSIGNATURE, self.public_key)

    def sign(self, msg: bytes) -> bytes:
        ts = int(self._clock())
        if not 0 < ts <= MAX_TIMESTAMP:
            raise MalformedError("cosignature timestamp out of range")
        return ts.to_bytes(8, "big") + self._sign(cosignature_message(msg.decode(), ts))

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public_key)

    @property
    def skey(self) -> str:
        return format_skey(self.name, ALG_COSIGNATURE, self._seed, self.key_id)


class CosignatureVerifier:
    """Verifies ``cosignature/v1`` lines (key type 0x04)."""

    alg = ALG_COSIGNATURE

    def __init__(self, name: str, public_key: bytes) -> None:
        if not valid_name(name) or len(public_key) != 32:
            raise MalformedError(
                "cosignature verifier needs a name and a 32-byte key", field="vkey"
            )
        self.name, self.public_key = name, public_key
        self.key_id = key_id(name, ALG_COSIGNATURE, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @property
    def vkey(self) -> str:
        return format_vkey(self.name, ALG_COSIGNATURE, self.public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        if len(sig) != 72:
            return False
        ts = int.from_bytes(sig[:8], "big")
        if ts > MAX_TIMESTAMP:
            return False
        try:
            message = cosignature_message(msg.decode(), ts)
        except UnicodeDecodeError:
            return False
        return verify_ed25519(self._key, self.public_key, sig[8:], message)


def cosignature_timestamp(sig: Signature | bytes) -> int:
    """The timestamp of a cosignature line (or of its decoded bytes, key id included)."""
    raw = b64decode_field(sig.b64, "signature") if isinstance(sig, Signature) else bytes(sig)
    if len(raw) != 76:
        raise MalformedError(f"not a cosignature: {len(raw)} bytes, expected 76")
    ts = int.from_bytes(raw[4:12], "big")
    if ts > MAX_TIMESTAMP:
        raise MalformedError("cosignature timestamp exceeds 2^63-1")
    return ts


def generate_cosignature_key(name: str) -> tuple[str, str]:
    """A fresh witness key pair: (signer key, verifier key) of type 0x04."""
    if not valid_name(name):
        raise MalformedError(
            f"key name {name!r} must be non-empty, without '+' or spaces", field="name"
        )
    s = CosignatureSigner(name, os.urandom(32), clock=lambda: 0)  # for its keys only
    return s.skey, s.verifier().vkey


def new_cosignature_signer(skey: str, clock: Callable[[], float]) -> CosignatureSigner:
    """A witness signer from ``PRIVATE+KEY+name+id+base64(0x04 ‖ seed)``; ``clock`` gives the
    time each cosignature states (``time.time`` in a witness: the core reads no clock)."""
    f = split_key(skey.strip() if isinstance(skey, str) else skey, 5, "skey")
    if f[0] != "PRIVATE" or f[1] != "KEY" or not valid_name(f[2]):
        raise MalformedError("malformed witness signer key", field="skey")
    raw = b64decode_field(f[4], "skey")
    if len(raw) != 33 or raw[0] != ALG_COSIGNATURE:
        raise MalformedError("witness signer key is not a 0x04 Ed25519 seed", field="skey")
    signer = CosignatureSigner(f[2], raw[1:], clock)
    if signer.key_id.hex() != f[3].lower():
        raise MalformedError("witness signer key id does not match the key", field="skey")
    return signer


def parse_any_verifier(vkey: str) -> Verifier:
    """A log (0x01) or witness (0x04) verifier from its key string."""
    name, _, alg, pub = parse_vkey(vkey)
    if alg == ALG_ED25519:
        return Ed25519Verifier(name, pub)
    if alg == ALG_COSIGNATURE:
        return CosignatureVerifier(name, pub)
    raise MalformedError(f"unknown verifier algorithm {alg:#04x}", field="vkey")


def witness_policy_check(
    note: Note, witnesses: Sequence[Verifier], threshold: int
) -> list[Signature]:
    """The verified witness cosignatures of an opened note; fewer than ``threshold`` fails."""
    keys = {(w.name, bytes(w.key_id)) for w in witnesses}
    got = [s for s in note.sigs if (s.name, s.key_id) in keys]
    if len(got) < threshold:
        names = ", ".join(w.name for w in witnesses) or "none configured"
        given: dict[str, list[str]] = {}
        for w in witnesses:
            given.setdefault(w.name, []).append(bytes(w.key_id).hex())
        other = [f"{s.name} by key {s.key_id.hex()} (given: {', '.join(given[s.name])})"
                 for s in note.unverified if s.name in given]
        raise VerificationError(
            f"need {threshold} witness cosignatures, got {len(got)} (witnesses: {names})" + (
                f"; the checkpoint has a line in the name of {'; '.join(other)}, not "
                "checked: no key was given for it (the witness's new key? ask its operator, "
                "and give it with --witness)" if other else ""))
    return got
