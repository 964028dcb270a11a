"""``hashedrekord``: a signed artifact digest, logged as Rekor v2's hashedrekord v0.0.2 entry.

Submission::

    {"type": "hashedrekord", "digest": "sha256:<hex>", "signature": "<base64>",
     "public_key": "<PEM>"}            # or "certificate": "<PEM>"

Logged entry (RFC 8785 JSON, what Rekor v2 logs for the same inputs)::

    {"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":
    {"algorithm":"SHA2_256","digest":"<b64>"},"signature":{"content":"<b64>","verifier":
    {"keyDetails":"PKIX_ECDSA_P256_SHA_256","publicKey":{"rawBytes":"<b64 DER SPKI>"}}}}}}

ECDSA and RSA sign the artifact (checked against its digest, prehashed); Ed25519 signs the
digest bytes themselves (a log cannot check pure Ed25519 over an artifact it never sees). The
certificate's chain is not validated: only its key is used.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from tlog.errors import MalformedError, VerificationError

from .canonical import canonical_json
from .keys import HASHES, Verifier, key_fingerprint, load_verifier

__all__ = ["TYPE"]

_DIGEST = re.compile(r"(sha256|sha384|sha512):([0-9a-f]+)")
_ALG_NAMES = {v[0]: k for k, v in HASHES.items()}


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise MalformedError("expected a base64 string", field=field)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError("not valid base64", field=field) from e


def _digest(value: Any, field: str) -> tuple[str, bytes]:
    m = _DIGEST.fullmatch(value) if isinstance(value, str) else None
    if not m:
        raise MalformedError(
            'expected "sha256:<hex>", "sha384:<hex>" or "sha512:<hex>"', field=field
        )
    raw = bytes.fromhex(m[2]) if len(m[2]) % 2 == 0 else b""
    if len(raw) != HASHES[m[1]][2]:
        raise MalformedError(f"a {m[1]} digest is {HASHES[m[1]][2] * 2} hex digits", field=field)
    return m[1], raw


class HashedRekord:
    name = "hashedrekord"
    kind, api_version = "hashedrekord", "0.0.2"
    fields = ("type", "digest", "signature", "public_key", "certificate", "rsa_pss")

    def parse(self, doc: dict[str, Any]) -> dict[str, Any]:
        unknown = set(doc) - set(self.fields)
        if unknown:
            raise MalformedError(f"unknown field(s) {sorted(unknown)}", field="hashedrekord")
        hash_name, digest = _digest(doc.get("digest"), "hashedrekord.digest")
        sig = _b64(doc.get("signature"), "hashedrekord.signature")
        has_key, has_cert = "public_key" in doc, "certificate" in doc
        if has_key == has_cert:
            raise MalformedError(
                "give exactly one of public_key or certificate", field="hashedrekord"
            )
        field = "hashedrekord.public_key" if has_key else "hashedrekord.certificate"
        pem = doc[field.split(".")[1]]
        if not isinstance(pem, str):
            raise MalformedError("expected a PEM string", field=field)
        verifier = load_verifier(
            pem.encode(), field, certificate=has_cert, rsa_pss=bool(doc.get("rsa_pss", False))
        )
        return {"hash": hash_name, "digest": digest, "signature": sig, "verifier": verifier}

    def verify(self, p: dict[str, Any]) -> None:
        p["verifier"].verify_digest(
            p["signature"], p["digest"], p["hash"], "hashedrekord.signature"
        )

    def canonical(self, p: dict[str, Any]) -> bytes:
        v: Verifier = p["verifier"]
        raw = {"rawBytes": base64.b64encode(v.der).decode()}
        verifier = {
            "keyDetails": v.key_details,
            ("x509Certificate" if v.is_certificate else "publicKey"): raw,
        }
        body = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "spec": {
                "hashedRekordV002": {
                    "data": {
                        "algorithm": HASHES[p["hash"]][0],
                        "digest": base64.b64encode(p["digest"]).decode(),
                    },
                    "signature": {
                        "content": base64.b64encode(p["signature"]).decode(),
                        "verifier": verifier,
                    },
                }
            },
        }
        return canonical_json(body)

    def _decode(self, body: dict[str, Any]) -> dict[str, Any]:
        spec = body["spec"]["hashedRekordV002"]
        hash_name = _ALG_NAMES[spec["data"]["algorithm"]]
        ver = spec["signature"]["verifier"]
        is_cert = "x509Certificate" in ver
        der = _b64((ver.get("x509Certificate") or ver.get("publicKey"))["rawBytes"], "verifier")
        verifier = load_verifier(
            der, "verifier", certificate=is_cert, rsa_pss="PSS" in ver["keyDetails"]
        )
        if verifier.key_details != ver["keyDetails"]:
            raise MalformedError("keyDetails do not match the key", field="verifier.keyDetails")
        return {
            "hash": hash_name,
            "digest": _b64(spec["data"]["digest"], "digest"),
            "signature": _b64(spec["signature"]["content"], "signature"),
            "verifier": verifier,
        }

    def search_keys(self, body: dict[str, Any]) -> list[str]:
        return self.parsed_search_keys(self._decode(body))

    def parsed_search_keys(self, p: dict[str, Any]) -> list[str]:
        return [f"{p['hash']}:{p['digest'].hex()}", key_fingerprint(p["verifier"].spki)]

    def reverify(self, body: dict[str, Any]) -> None:
        p = self._decode(body)
        try:
            self.verify(p)
        except VerificationError as e:
            raise VerificationError(f"logged hashedrekord signature does not verify: {e}") from e

    def describe(self, body: dict[str, Any]) -> dict[str, Any]:
        p = self._decode(body)
        return {
            "type": self.name,
            "digests": [f"{p['hash']}:{p['digest'].hex()}"],
            "key_fingerprints": [key_fingerprint(p["verifier"].spki)],
            "key_details": p["verifier"].key_details,
        }


TYPE = HashedRekord()
