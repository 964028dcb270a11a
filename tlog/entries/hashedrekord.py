"""``hashedrekord``: a signed artifact digest, logged as Rekor v2's hashedrekord v0.0.2 entry.

Submission (docs/submissions.md)::

    {"type": "hashedrekord", "digest": "sha256:<hex>", "signature": "<base64>",
     "public_key": "<PEM>"}          # or "certificate": "<PEM>"; optional "key_details"

Logged entry: what Rekor v2 logs for the same inputs (``HashedRekordLogEntryV002`` inside an
``Entry``, protojson field names, bytes in base64, then RFC 8785), for example::

    {"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":
    {"algorithm":"SHA2_256","digest":"<b64>"},"signature":{"content":"<b64>","verifier":
    {"keyDetails":"PKIX_ECDSA_P256_SHA_256","publicKey":{"rawBytes":"<b64 DER SPKI>"}}}}}}

How each key signs (the entry's ``keyDetails`` says which, and re-verification follows it):

- ECDSA and RSA: over the artifact, checked against its digest (prehashed), as Rekor v2.
- Ed25519, ``PKIX_ED25519_PH`` (Rekor v2's only Ed25519 form): Ed25519ph over the artifact,
  which needs its SHA-512 digest. Chosen when the digest is sha512 and the signature verifies
  so.
- Ed25519, ``PKIX_ED25519`` (a tiledlog extension; Rekor v2 refuses pure Ed25519 here):
  pure Ed25519 over the digest bytes themselves, for sha256/sha384/sha512 digests. The log
  cannot check a pure Ed25519 signature over an artifact it never sees.

The certificate's chain is checked by the log only when it has X.509 trust roots
(``[[trust.x509]]``, ``tlog.client.admission.policed_log_batch``); its identities (SAN, Fulcio
issuer) are search keys either way (``tlog.entries.x509``).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tlog.errors import MalformedError, VerificationError

from .fields import (
    b64,
    check_fields,
    digest_spec,
    get,
    hash_output_parts,
    parse_hash_output,
    parse_verifier,
    verifier_parts,
)
from .keys import HASHES, PublicKey, candidate_details, details_hash, load_public_key, verify_digest
from .registry import parse_entry
from .x509 import certificate_search_keys

__all__ = ["PURE_ED25519_REFUSED", "TYPE", "HashedRekord", "is_pure_ed25519", "logged_parts"]

PURE_ED25519_REFUSED = (
    "this log does not accept pure Ed25519 over a digest (Rekor v2 removed it; "
    "allow_pure_ed25519 in tlog.toml): sign with Ed25519ph (PKIX_ED25519_PH)")

_FIELDS = ("type", "digest", "signature", "public_key", "certificate", "rsa_pss", "key_details")
_FIELD_SET = frozenset(_FIELDS)
_PREFIX = b'{"apiVersion":"0.0.2","kind":"hashedrekord",'
_TEMPLATE = (
    '{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":'
    '{"algorithm":"%s","digest":"%s"},"signature":{"content":"%s","verifier":'
    '{"keyDetails":"%s","%s":{"rawBytes":"%s"}}}}}}'
)


@dataclass(slots=True)
class Parsed:
    hash_name: str
    digest: bytes
    signature: bytes
    key: PublicKey
    options: Sequence[str]
    details: str | None = None  # set by verify: the key details that verified


def _key(doc: dict[str, Any]) -> PublicKey:
    text = doc.get("public_key")
    if isinstance(text, str) and "certificate" not in doc:  # the common case
        return load_public_key(text.encode(), "hashedrekord.public_key", None)
    has_key, has_cert = "public_key" in doc, "certificate" in doc
    if has_key == has_cert:
        raise MalformedError("give exactly one of public_key or certificate", field="hashedrekord")
    name = "public_key" if has_key else "certificate"
    field = f"hashedrekord.{name}"
    text = get(doc, name, str, field)
    return load_public_key(text.encode(), field, True if has_cert else None)


class HashedRekord:
    """The ``hashedrekord`` entry type (Rekor v2 hashedrekord v0.0.2)."""

    name = "hashedrekord"
    kind, api_version = "hashedrekord", "0.0.2"

    def parse(self, doc: dict[str, Any]) -> Parsed:
        if not _FIELD_SET.issuperset(doc):
            check_fields(doc, _FIELDS, "hashedrekord")
        hash_name, digest = digest_spec(doc.get("digest"), "hashedrekord.digest")
        sig = b64(doc.get("signature"), "hashedrekord.signature")
        key = _key(doc)
        pss = requested = None
        if len(doc) > 4:  # type, digest, signature and the key: the options only if given
            pss = get(doc, "rsa_pss", bool, "hashedrekord.rsa_pss", optional=True)
            requested = get(doc, "key_details", str, "hashedrekord.key_details", optional=True)
        if pss and not key.algorithm.startswith("rsa-"):
            raise MalformedError(f"only for RSA keys, not {key.algorithm}",
                                 field="hashedrekord.rsa_pss")
        options = candidate_details(
            key, hash_name, "hashedrekord.key_details" if requested else "hashedrekord.digest",
            requested=requested, rsa_pss=bool(pss),
        )
        return Parsed(hash_name, digest, sig, key, options)

    def verify(self, p: Parsed) -> None:
        p.details = verify_digest(p.key, p.options, p.signature, p.digest, "hashedrekord.signature")

    def canonical(self, p: Parsed) -> bytes:
        if p.details is None:
            raise VerificationError("hashedrekord: canonical() before verify()")
        return _encode(p.hash_name, p.digest, p.signature, p.key, p.details)

    def parsed_search_keys(self, p: Parsed) -> list[str]:
        keys = [f"{p.hash_name}:{p.digest.hex()}", p.key.fingerprint]
        return keys + certificate_search_keys([p.key]) if p.key.is_certificate else keys

    def certificates(self, entry: bytes) -> list[bytes]:
        """The DER certificate the entry's signer used (none for a bare key)."""
        key = _decode(entry).key
        return [key.der] if key.is_certificate else []

    def search_keys(self, entry: bytes) -> list[str]:
        return self.parsed_search_keys(_decode(entry))

    def describe(self, entry: bytes) -> dict[str, Any]:
        p = _decode(entry)
        return {
            "type": self.name,
            "digests": [f"{p.hash_name}:{p.digest.hex()}"],
            "key_fingerprints": [p.key.fingerprint],
            "key_details": p.details,
            "verifier": "certificate" if p.key.is_certificate else "public key",
        }

    checks_encoding = True  # verify_entry compares the entry with its exact encoding

    def verify_entry(self, entry: bytes) -> None:
        """Re-check the logged signature over the logged digest, as its keyDetails say, and
        that the entry is byte for byte the encoding of what it holds."""
        p = _decode(entry)
        if _encode(p.hash_name, p.digest, p.signature, p.key, p.details) != bytes(entry):
            raise MalformedError("is not the canonical encoding of its fields", field="entry")
        try:
            verify_digest(p.key, p.options, p.signature, p.digest, "entry.signature")
        except MalformedError as e:
            raise VerificationError(f"logged hashedrekord signature is malformed: {e}") from e


def _encode(hash_name: str, digest: bytes, sig: bytes, key: PublicKey, details: str) -> bytes:
    """The RFC 8785 form, written directly: its member order is fixed (tests check it equals
    canonical_json of the same object)."""
    b = binascii.b2a_base64
    which = "x509Certificate" if key.is_certificate else "publicKey"
    text = _TEMPLATE % (
        HASHES[hash_name][0], b(digest, newline=False).decode(),
        b(sig, newline=False).decode(), details, which,
        key.der_b64,
    )
    return text.encode()


# The template's slots, read straight from canonical bytes (what a log holds): no JSON parse
# and no walk through objects, a third of a monitor's work around the signature check.
_SLOTS = (rb"([A-Z0-9_]{1,40})", rb"([A-Za-z0-9+/=]{1,400})", rb"([A-Za-z0-9+/=]{1,8000})",
          rb"([A-Z0-9_]{1,60})", rb"(publicKey|x509Certificate)", rb"([A-Za-z0-9+/=]{1,65536})")
_CANONICAL = re.compile(b"".join(
    re.escape(part.encode()) + (_SLOTS[i] if i < len(_SLOTS) else b"")
    for i, part in enumerate(_TEMPLATE.split("%s"))))
_F = "entry.spec.hashedRekordV002"


def _decode_canonical(entry: bytes) -> Parsed | None:
    """``_decode`` of an entry in exactly the form ``_encode`` writes, by the same checks on
    each field; None for anything else (``_decode`` then names what is wrong)."""
    m = _CANONICAL.fullmatch(entry)
    if m is None:
        return None
    alg, digest, sig, details, which, der = (g.decode() for g in m.groups())
    try:
        hash_name, digest_bytes = hash_output_parts(alg, digest, f"{_F}.data")
        signature = b64(sig, f"{_F}.signature.content")
        key, details = verifier_parts(details, which == "x509Certificate", der,
                                      f"{_F}.signature.verifier")
    except MalformedError:
        return None
    fixed = details_hash(details)
    if fixed and fixed != hash_name:
        return None
    return Parsed(hash_name, digest_bytes, signature, key, [details], details)


@lru_cache(maxsize=8)
def _decode(entry: bytes) -> Parsed:
    """A logged hashedrekord entry back to its parts (MalformedError naming the field).
    Cached: a monitor asks for an entry's check, search keys and more in a row; callers
    only read the result."""
    fast = _decode_canonical(entry)
    if fast is not None:
        return fast
    body = parse_entry(entry)
    check_fields(body, ("apiVersion", "kind", "spec"), "entry")
    spec = get(get(body, "spec", dict, "entry.spec"), "hashedRekordV002", dict,
               "entry.spec.hashedRekordV002")
    f = "entry.spec.hashedRekordV002"
    check_fields(spec, ("data", "signature"), f)
    hash_name, digest = parse_hash_output(get(spec, "data", dict, f"{f}.data"), f"{f}.data")
    sig_obj = get(spec, "signature", dict, f"{f}.signature")
    check_fields(sig_obj, ("content", "verifier"), f"{f}.signature")
    sig = b64(get(sig_obj, "content", str, f"{f}.signature.content"), f"{f}.signature.content")
    key, details = parse_verifier(sig_obj.get("verifier"), f"{f}.signature.verifier")
    fixed = details_hash(details)
    if fixed and fixed != hash_name:
        raise MalformedError(f"{details} signs {fixed} digests, not {hash_name}",
                             field=f"{f}.data.algorithm")
    return Parsed(hash_name, digest, sig, key, [details], details)


def is_pure_ed25519(entry: bytes) -> bool:
    """Whether a logged entry is a hashedrekord signed with pure Ed25519 over its digest
    (what a Sigstore-compatible log refuses). The entry's canonical form makes this a byte
    test: ``PKIX_ED25519_PH`` does not match."""
    return entry.startswith(_PREFIX) and b'"keyDetails":"PKIX_ED25519"' in entry


def logged_parts(entry: bytes) -> Parsed:
    """A logged hashedrekord entry's digest, signature, key and key details (MalformedError
    naming the field when the bytes are not one): what a Sigstore bundle restates."""
    return _decode(bytes(entry))


TYPE = HashedRekord()
