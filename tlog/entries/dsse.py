"""``dsse``: a DSSE envelope (an in-toto Statement or any payload), logged compactly as Rekor
v2's dsse v0.0.2 entry: the payload's SHA-256 and the verified signatures with their keys.
The payload itself is never logged.

Submission (docs/submissions.md)::

    {"type": "dsse",
     "envelope": {"payloadType": "application/vnd.in-toto+json", "payload": "<base64>",
                  "signatures": [{"keyid": "", "sig": "<base64>"}]},
     "public_keys": ["<PEM>", ...], "certificates": ["<PEM>", ...]}

Each signature is checked over the DSSE pre-authentication encoding
``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``. As in Rekor v2,
every signature must verify with one of the given keys, every key must verify at least one
signature, at most 10 of each; the envelope's ``keyid`` hints are ignored. The whole
document is at most 1 MiB, so the envelope is too.

Logged entry (RFC 8785; signatures sorted by their raw bytes, duplicates dropped)::

    {"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{"payloadHash":{"algorithm":
    "SHA2_256","digest":"<b64>"},"signatures":[{"content":"<b64>","verifier":{...}}]}}}

Re-verification from the entry alone (monitors) checks its form, that every key parses and
fits its keyDetails, and that signatures are sorted and distinct. The signatures themselves
cannot be re-checked: they cover the payload and its type, which are not logged. Whoever
holds the envelope can re-derive the entry (``admit``) and compare bytes.

Rekor v2 has since dropped DSSE (its protos remain, deprecated); entries keep its format.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any

from tlog.errors import MalformedError, VerificationError

from .canonical import canonical_json
from .fields import (
    b64,
    check_fields,
    get,
    hash_output,
    object_list,
    parse_hash_output,
    parse_verifier,
    pem_keys,
    verifier_json,
)
from .keys import PublicKey, candidate_details, verify_message
from .registry import parse_entry
from .x509 import certificate_search_keys

__all__ = ["MAX_SIGNATURES", "MAX_VERIFIERS", "TYPE", "Dsse", "pae"]

MAX_SIGNATURES = 10
MAX_VERIFIERS = 10
_FIELDS = ("type", "envelope", "public_keys", "certificates")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what each signature signs."""
    t = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(payload), payload)


@dataclass
class Parsed:
    payload_type: str
    payload: bytes
    signatures: list[bytes]
    keys: list[tuple[PublicKey, str]]  # (key, the field that gave it)
    verified: list[tuple[bytes, PublicKey, str]] = field(default_factory=list)


def _dsse_b64(value: Any, fld: str) -> bytes:
    """DSSE allows standard or URL-safe base64, padded or not."""
    if not isinstance(value, str):
        raise MalformedError("expected a base64 string", field=fld)
    text = value.rstrip("=")
    text += "=" * (-len(text) % 4)
    alt = "-_" if ("-" in text or "_" in text) else "+/"
    try:
        return base64.b64decode(text, altchars=alt.encode(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError("not valid base64", field=fld) from e


def _envelope(env: Any) -> tuple[str, bytes, list[bytes]]:
    f = "dsse.envelope"
    if not isinstance(env, dict):
        raise MalformedError("expected a DSSE envelope object", field=f)
    check_fields(env, ("payloadType", "payload", "signatures"), f)
    ptype = get(env, "payloadType", str, f"{f}.payloadType")
    payload = _dsse_b64(get(env, "payload", str, f"{f}.payload"), f"{f}.payload")
    out = []
    for sf, s in object_list(env, "signatures", ("keyid", "sig"), f"{f}.signatures",
                             MAX_SIGNATURES):
        get(s, "keyid", str, f"{sf}.keyid", optional=True)
        raw = _dsse_b64(get(s, "sig", str, f"{sf}.sig"), f"{sf}.sig")
        if not raw:
            raise MalformedError("is empty", field=f"{sf}.sig")
        out.append(raw)
    return ptype, payload, out


def _keys(doc: dict[str, Any]) -> list[tuple[PublicKey, str]]:
    keys: list[tuple[PublicKey, str]] = []
    for name, cert in (("public_keys", None), ("certificates", True)):
        items = get(doc, name, list, f"dsse.{name}", optional=True) or []
        keys += pem_keys(items, f"dsse.{name}", cert)
    if not keys:
        raise MalformedError("give at least one of public_keys or certificates", field="dsse")
    if len(keys) > MAX_VERIFIERS:
        raise MalformedError(f"at most {MAX_VERIFIERS} keys, got {len(keys)}", field="dsse")
    seen: dict[bytes, str] = {}
    for key, fld in keys:
        if key.der in seen:
            raise MalformedError(f"the same key as {seen[key.der]}", field=fld)
        seen[key.der] = fld
    return keys


class Dsse:
    """The ``dsse`` entry type (Rekor v2 dsse v0.0.2)."""

    name = "dsse"
    kind, api_version = "dsse", "0.0.2"

    def parse(self, doc: dict[str, Any]) -> Parsed:
        check_fields(doc, _FIELDS, "dsse")
        if "envelope" not in doc:
            raise MalformedError("missing (expected a DSSE envelope object)",
                                 field="dsse.envelope")
        ptype, payload, sigs = _envelope(doc["envelope"])
        return Parsed(ptype, payload, sigs, _keys(doc))

    def verify(self, p: Parsed) -> None:
        message = pae(p.payload_type, p.payload)
        used: set[int] = set()
        done: dict[bytes, tuple[PublicKey, str]] = {}
        for i, sig in enumerate(p.signatures):
            if sig in done:
                continue
            for k, (key, fld) in enumerate(p.keys):
                details = verify_message(key, candidate_details(key, None, fld, prehashed=False),
                                         sig, message, f"dsse.envelope.signatures[{i}]")
                if details:
                    done[sig] = (key, details)
                    used.add(k)
                    break
            else:
                raise VerificationError(
                    f"dsse.envelope.signatures[{i}]: does not verify with any of the given keys"
                )
        for k, (_, fld) in enumerate(p.keys):
            if k not in used:
                raise VerificationError(f"{fld}: verifies none of the envelope's signatures")
        p.verified = sorted((s, key, d) for s, (key, d) in done.items())

    def canonical(self, p: Parsed) -> bytes:
        if not p.verified:
            raise VerificationError("dsse: canonical() before verify()")
        body = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "spec": {
                "dsseV002": {
                    "payloadHash": hash_output("sha256", hashlib.sha256(p.payload).digest()),
                    "signatures": [
                        {"content": base64.b64encode(s).decode(),
                         "verifier": verifier_json(key, details)}
                        for s, key, details in p.verified
                    ],
                }
            },
        }
        return canonical_json(body)

    def parsed_search_keys(self, p: Parsed) -> list[str]:
        digest = hashlib.sha256(p.payload).hexdigest()
        keys = [key for _, key, _ in p.verified]
        return [f"sha256:{digest}", *_fingerprints(keys), *certificate_search_keys(keys)]

    def search_keys(self, entry: bytes) -> list[str]:
        digest, sigs = _decode(entry)
        keys = [key for _, key, _ in sigs]
        return [f"sha256:{digest.hex()}", *_fingerprints(keys), *certificate_search_keys(keys)]

    def certificates(self, entry: bytes) -> list[bytes]:
        """The DER certificates of the entry's signers (none for bare keys)."""
        return list(dict.fromkeys(key.der for _, key, _ in _decode(entry)[1]
                                  if key.is_certificate))

    def describe(self, entry: bytes) -> dict[str, Any]:
        digest, sigs = _decode(entry)
        return {
            "type": self.name,
            "digests": [f"sha256:{digest.hex()}"],
            "key_fingerprints": _fingerprints(key for _, key, _ in sigs),
            "payload": "sha256 of the DSSE payload (the payload is not logged)",
            "signatures": len(sigs),
        }

    def verify_entry(self, entry: bytes) -> None:
        """What the entry alone allows: form, keys, order (see the module docstring)."""
        _decode(entry)


def _fingerprints(keys: Any) -> list[str]:
    return list(dict.fromkeys(k.fingerprint for k in keys))


def _decode(entry: bytes) -> tuple[bytes, list[tuple[bytes, PublicKey, str]]]:
    body = parse_entry(entry)
    check_fields(body, ("apiVersion", "kind", "spec"), "entry")
    f = "entry.spec.dsseV002"
    spec = get(get(body, "spec", dict, "entry.spec"), "dsseV002", dict, f)
    check_fields(spec, ("payloadHash", "signatures"), f)
    alg, digest = parse_hash_output(spec.get("payloadHash"), f"{f}.payloadHash")
    if alg != "sha256":
        raise MalformedError("expected SHA2_256", field=f"{f}.payloadHash.algorithm")
    sigs: list[tuple[bytes, PublicKey, str]] = []
    for sf, s in object_list(spec, "signatures", ("content", "verifier"), f"{f}.signatures",
                             MAX_SIGNATURES):
        raw = b64(get(s, "content", str, f"{sf}.content"), f"{sf}.content")
        key, details = parse_verifier(s.get("verifier"), f"{sf}.verifier")
        if details == "PKIX_ED25519_PH":
            raise MalformedError("DSSE signatures are not prehashed", field=f"{sf}.verifier")
        if sigs and raw <= sigs[-1][0]:
            raise MalformedError("signatures are not sorted and distinct", field=sf)
        sigs.append((raw, key, details))
    return digest, sigs


TYPE = Dsse()
