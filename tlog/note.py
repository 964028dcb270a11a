"""C2SP signed-note (https://c2sp.org/signed-note), with Go ``sumdb/note`` semantics.

A note is text, a blank line, then signature lines ``— <key name> <base64(key id ‖ sig)>``::

    If you think cryptography is the answer to your problem,
    then you don't know what your problem is.

    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp…
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tlog.ed25519 import signer as ed25519_signer
from tlog.ed25519 import verify as verify_ed25519
from tlog.errors import MalformedError, VerificationError

__all__ = [
    "ALG_ED25519",
    "Ed25519Signer",
    "Ed25519Verifier",
    "InvalidSignatureError",
    "Note",
    "Signature",
    "Signer",
    "UnverifiedNoteError",
    "Verifier",
    "b64decode_field",
    "format_skey",
    "format_vkey",
    "generate_key",
    "key_id",
    "new_signer",
    "new_verifier",
    "open_note",
    "sign_note",
    "split_key",
]

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")  # control characters other than newline
_SPACES = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key id, and the base64 text as it appeared."""

    name: str
    key_id: bytes
    b64: str

    @property
    def line(self) -> str:
        return f"— {self.name} {self.b64}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the verified signatures and the unverified ones."""

    text: str
    sigs: tuple[Signature, ...] = ()
    unverified: tuple[Signature, ...] = ()


class Verifier(Protocol):
    name: str
    key_id: bytes

    def verify(self, msg: bytes, sig: bytes) -> bool: ...


class Signer(Protocol):
    name: str
    key_id: bytes

    def sign(self, msg: bytes) -> bytes: ...


class UnverifiedNoteError(VerificationError):
    """No signature by a known key; ``note`` carries what was parsed."""

    def __init__(self, note: Note, given: Sequence[Verifier] = ()) -> None:
        signed = _some(f"{s.name[:64]}+{s.key_id.hex()}" for s in note.unverified)
        keys = _some(f"{v.name[:64]}+{bytes(v.key_id).hex()}" for v in given)
        super().__init__("note has no verifiable signature by a known key" + (
            f": signed by {signed}, not by any key given ({keys})" if signed and keys else ""))
        self.note = note


def _some(names: Iterable[str], most: int = 4) -> str:
    """Up to ``most`` names, and how many more."""
    shown = list(names)
    more = f" and {len(shown) - most} more" if len(shown) > most else ""
    return ", ".join(shown[:most]) + more


class InvalidSignatureError(VerificationError):
    """A signature by a known key does not verify."""

    def __init__(self, name: str, key_id: bytes) -> None:
        super().__init__(f"invalid signature for key {name}+{key_id.hex()}")
        self.name, self.key_id = name, key_id


def valid_name(name: str) -> bool:
    """Key names: non-empty UTF-8, no '+', no Unicode space."""
    return bool(name) and "+" not in name and not any(c in _SPACES for c in name)


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """SHA-256(name ‖ '\\n' ‖ alg ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def b64decode_field(s: str, what: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True) if s else b""
    except (binascii.Error, ValueError) as e:
        raise MalformedError(f"invalid base64: {e}", field=what) from e


def split_key(s: str, parts: int, what: str) -> list[str]:
    if not isinstance(s, str):
        raise MalformedError("key must be a string", field=what)
    fields = s.split("+", parts - 1)
    if len(fields) != parts:
        raise MalformedError(f"expected {parts} '+'-separated fields", field=what)
    return fields


def _label(name: str, hex_id: str) -> str:
    """What an error may show of a key: its name and id, cut short."""
    return repr(f"{name[:64]}+{hex_id[:8]}")


def parse_vkey(vkey: str) -> tuple[str, bytes, int, bytes]:
    """Split a verifier key string into (name, key id, algorithm, public key), checking the id.
    Errors never echo the key's bytes: what was given might be a private key, and error
    messages end up in CI logs."""
    if isinstance(vkey, str) and vkey.strip().startswith("PRIVATE+KEY+"):
        raise MalformedError("this is a private (signer) key, not a verifier key: give the "
                             "public .pub key instead, and keep the private one out of logs "
                             "and command lines", field="vkey")
    name, hex_id, b64 = split_key(vkey.strip() if isinstance(vkey, str) else vkey, 3, "vkey")
    if not valid_name(name) or not _HEX8.fullmatch(hex_id):
        raise MalformedError(f"malformed verifier key {_label(name, hex_id)} (expected "
                             "name+<8 hex digits>+<base64 key>)", field="vkey")
    raw = b64decode_field(b64, "vkey")
    if len(raw) < 2:
        raise MalformedError(f"malformed verifier key {_label(name, hex_id)}: no key bytes",
                             field="vkey")
    kid = bytes.fromhex(hex_id)
    if key_id(name, raw[0], raw[1:]) != kid:
        raise MalformedError(f"verifier key {_label(name, hex_id)}: key id does not match the "
                             "key", field="vkey")
    return name, kid, raw[0], raw[1:]


class Ed25519Verifier:
    """Verifies type-0x01 Ed25519 note signatures."""

    def __init__(self, name: str, public_key: bytes) -> None:
        if not valid_name(name) or len(public_key) != 32:
            raise MalformedError(
                "Ed25519 verifier needs a valid name and a 32-byte key", field="vkey"
            )
        self.name = name
        self.public_key = public_key
        self.key_id = key_id(name, ALG_ED25519, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @property
    def vkey(self) -> str:
        return format_vkey(self.name, ALG_ED25519, self.public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        if len(sig) != 64:
            return False
        return verify_ed25519(self._key, self.public_key, sig, msg)


class Ed25519Signer:
    """Signs notes with an Ed25519 seed (type 0x01)."""

    def __init__(self, name: str, seed: bytes) -> None:
        if not valid_name(name) or len(seed) != 32:
            raise MalformedError(
                "Ed25519 signer needs a valid name and a 32-byte seed", field="skey"
            )
        self.name = name
        self._seed, self._sign = seed, ed25519_signer(seed)
        self.public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, ALG_ED25519, self.public_key)

    def sign(self, msg: bytes) -> bytes:
        return self._sign(msg)

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self.name, self.public_key)

    @property
    def skey(self) -> str:
        return format_skey(self.name, ALG_ED25519, self._seed, self.key_id)


def format_vkey(name: str, alg: int, public_key: bytes) -> str:
    kid = key_id(name, alg, public_key)
    return f"{name}+{kid.hex()}+{base64.b64encode(bytes([alg]) + public_key).decode()}"


def format_skey(name: str, alg: int, secret: bytes, kid: bytes) -> str:
    return f"PRIVATE+KEY+{name}+{kid.hex()}+{base64.b64encode(bytes([alg]) + secret).decode()}"


def new_verifier(vkey: str) -> Ed25519Verifier:
    """An Ed25519 (0x01) verifier from its key string."""
    name, _, alg, pub = parse_vkey(vkey)
    if alg != ALG_ED25519:
        raise MalformedError(f"unknown verifier algorithm {alg:#04x}", field="vkey")
    return Ed25519Verifier(name, pub)


def new_signer(skey: str) -> Ed25519Signer:
    """An Ed25519 signer from its ``PRIVATE+KEY+name+id+base64`` string."""
    if not isinstance(skey, str):
        raise MalformedError("signer key must be a string", field="skey")
    f = split_key(skey.strip(), 5, "skey")
    if f[0] != "PRIVATE" or f[1] != "KEY" or not valid_name(f[2]) or not _HEX8.fullmatch(f[3]):
        raise MalformedError("malformed signer key", field="skey")
    raw = b64decode_field(f[4], "skey")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise MalformedError("signer key is not a 32-byte Ed25519 seed", field="skey")
    signer = Ed25519Signer(f[2], raw[1:])
    if signer.key_id != bytes.fromhex(f[3]):
        raise MalformedError("signer key id does not match the key", field="skey")
    return signer


def vkey_for_skey(skey: str) -> str:
    """The verifier key string that matches a signer key string."""
    return new_signer(skey).verifier().vkey


def generate_key(name: str) -> tuple[str, str]:
    """A fresh Ed25519 note key pair: (signer key, verifier key)."""
    if not valid_name(name):
        raise MalformedError(
            f"key name {name!r} must be non-empty, without '+' or spaces", field="name"
        )
    s = Ed25519Signer(name, os.urandom(32))
    return s.skey, s.verifier().vkey


def _check_text(text: str) -> None:
    if not text.endswith("\n") or _CONTROL.search(text):
        raise MalformedError("note text must end in a newline and have no control characters")


def sign_note(note: Note | str, *signers: Signer) -> bytes:
    """Serialise a note with its existing signatures (minus re-signed keys) plus new ones."""
    if isinstance(note, str):
        note = Note(note)
    _check_text(note.text)
    new_keys = {(s.name, s.key_id) for s in signers}
    lines = [s.line for s in note.sigs + note.unverified if (s.name, s.key_id) not in new_keys]
    for s in signers:
        if not valid_name(s.name):
            raise MalformedError(f"invalid key name {s.name!r}", field="name")
        b64 = base64.b64encode(s.key_id + s.sign(note.text.encode())).decode()
        lines.append(f"— {s.name} {b64}\n")
    return (note.text + "\n" + "".join(lines)).encode()


def open_note(msg: bytes, verifiers: Iterable[Verifier]) -> Note:
    """Parse and verify a note: every known key's signature must verify, at least one must exist."""
    try:
        s = bytes(msg).decode("utf-8")
    except (UnicodeDecodeError, TypeError) as e:
        raise MalformedError("note is not valid UTF-8") from e
    if _CONTROL.search(s):
        raise MalformedError("note contains control characters")
    i = s.rfind("\n\n")
    if i < 0:
        raise MalformedError("note has no signature block")
    text, sigs = s[: i + 1], s[i + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise MalformedError("note signature block is empty or unterminated")
    by_key: dict[tuple[str, bytes], Verifier] = {}
    ambiguous: set[tuple[str, bytes]] = set()
    for v in verifiers:
        k = (v.name, bytes(v.key_id))
        if k in by_key and by_key[k] is not v:
            ambiguous.add(k)
        by_key[k] = v
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError(f"note has more than {MAX_SIGNATURES} signatures")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, bytes]] = set()
    for line in lines:
        if not line.startswith("— "):
            raise MalformedError("note signature line does not start with '— '")
        name, sep, b64 = line[2:].partition(" ")
        if not sep or not valid_name(name):
            raise MalformedError("note signature line has an invalid key name")
        raw = b64decode_field(b64, "signature")
        if len(raw) < 5:
            raise MalformedError("note signature is too short")
        sig = Signature(name, raw[:4], b64)
        k = (name, raw[:4])
        if k in ambiguous:
            raise VerificationError(f"ambiguous key {name}+{raw[:4].hex()}")
        v = by_key.get(k)
        if v is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if k in seen:
            continue
        seen.add(k)
        if not v.verify(text.encode(), raw[4:]):
            raise InvalidSignatureError(name, raw[:4])
        verified.append(sig)
    note = Note(text, tuple(verified), tuple(unverified))
    if not verified:
        raise UnverifiedNoteError(note, list(by_key.values()))
    return note
