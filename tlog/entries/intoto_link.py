"""``intoto-link``: in-toto link metadata (classic ``{"signed": …, "signatures": […]}``),
verified against the given public keys and logged as a compact entry.

Signatures cover the securesystemslib canonical JSON of ``signed`` — NOT RFC 8785: keys
sorted by code point, no whitespace, only ``"`` and ``\\`` escaped (every other character,
control characters included, written as is), integers only, UTF-8::

    {"_type":"link","byproducts":{},"command":[],"environment":{},"materials":{},...}

Signature ``keyid``s are matched to keys by securesystemslib key ids (sha256 of the
canonical key, in the current form and in the legacy one with ``keyid_hash_algorithms``);
a signature whose keyid matches none is tried against every key. Every signature must
verify with one of the keys, and every key must verify one. Schemes: ``ed25519``,
``ecdsa-sha2-nistp256/384/521``, ``rsassa-pss-sha256`` and ``rsa-pkcs1v15-sha256``.
A DSSE-wrapped link is a ``dsse`` submission instead.

Submission::

    {"type": "intoto-link", "link": {"signed": {...}, "signatures": [...]},
     "public_keys": ["<PEM>", ...]}

Logged entry (RFC 8785)::

    {"apiVersion":"0.0.1","kind":"intoto-link","spec":{"intotoLinkV001":{
     "materials":[{"digest":{"sha256":"<hex>"},"uri":"foo.py"}],"name":"package",
     "products":[...],"signatures":[{"content":"<b64>","keyid":"<hex>",
     "scheme":"rsassa-pss-sha256","verifier":{...}}],
     "signedHashes":[{"algorithm":"SHA2_256","digest":"<b64>"}]}}}

``signedHashes`` are digests of the canonical ``signed`` bytes; the SHA2_256 one is the
link's hash (its search key). Re-verification from the entry alone re-checks ECDSA and RSA
signatures against those digests; Ed25519 signatures cover the full canonical bytes, which
are not logged, so for them only the key and form are checked.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization

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
from .keys import DETAILS, PublicKey, details_hash, verify_digest, verify_message
from .registry import parse_entry

__all__ = ["TYPE", "IntotoLink", "sslib_canonical", "sslib_keyids"]

MAX_SIGNATURES = 10
MAX_KEYS = 10
_FIELDS = ("type", "link", "public_keys")
_SEARCHABLE = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX = re.compile(r"[0-9a-fA-F]+")
# scheme -> key details for each key algorithm
_SCHEMES = {
    "ed25519": [("ed25519", "PKIX_ED25519")],
    "ecdsa-secp256r1": [("ecdsa-sha2-nistp256", "PKIX_ECDSA_P256_SHA_256")],
    "ecdsa-secp384r1": [("ecdsa-sha2-nistp384", "PKIX_ECDSA_P384_SHA_384")],
    "ecdsa-secp521r1": [("ecdsa-sha2-nistp521", "PKIX_ECDSA_P521_SHA_512")],
}
_SCHEME_OF = {d: s for pairs in _SCHEMES.values() for s, d in pairs}


def _schemes(key: PublicKey) -> list[tuple[str, str]]:
    if key.algorithm.startswith("rsa-"):
        bits = key.algorithm[4:]
        return [("rsassa-pss-sha256", f"PKIX_RSA_PSS_{bits}_SHA256"),
                ("rsa-pkcs1v15-sha256", f"PKIX_RSA_PKCS1V15_{bits}_SHA256")]
    return _SCHEMES[key.algorithm]


def _scheme_of(details: str) -> str:
    if details.startswith("PKIX_RSA_PSS"):
        return "rsassa-pss-sha256"
    if details.startswith("PKIX_RSA_PKCS1V15"):
        return "rsa-pkcs1v15-sha256"
    return _SCHEME_OF[details]


def _enc(v: Any, out: list[str], fld: str) -> None:
    if isinstance(v, str):
        out.append('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')
    elif v is True or v is False or v is None:
        out.append({True: "true", False: "false", None: "null"}[v])
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, list):
        out.append("[")
        for i, x in enumerate(v):
            out.append("," if i else "")
            _enc(x, out, fld)
        out.append("]")
    elif isinstance(v, dict):
        out.append("{")
        for i, k in enumerate(sorted(v)):
            out.append("," if i else "")
            _enc(k, out, fld)
            out.append(":")
            _enc(v[k], out, fld)
        out.append("}")
    else:
        raise MalformedError(f"securesystemslib canonical JSON has no {type(v).__name__}s",
                             field=fld)


def sslib_canonical(value: Any, field: str = "intoto-link.link.signed") -> bytes:
    """securesystemslib's canonical JSON (``encode_canonical``) as UTF-8 bytes."""
    out: list[str] = []
    try:
        _enc(value, out, field)
        return "".join(out).encode()
    except RecursionError as e:
        raise MalformedError("nested too deeply", field=field) from e
    except UnicodeEncodeError as e:
        raise MalformedError("holds a lone surrogate", field=field) from e


def sslib_keyids(key: PublicKey) -> set[str]:
    """The key ids securesystemslib may have given ``key`` (current and legacy forms)."""
    if key.algorithm == "ed25519":
        raw = key.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        publics = [raw.hex()]
        keytypes = ["ed25519"]
    else:
        pem = key.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        publics = [pem, pem.strip()]
        keytypes = ["rsa"] if key.algorithm.startswith("rsa-") else ["ecdsa"]
    ids = set()
    for scheme, _ in _schemes(key):
        for keytype in [*keytypes, scheme] if keytypes == ["ecdsa"] else keytypes:
            for public in publics:
                meta: dict[str, Any] = {"keytype": keytype, "scheme": scheme,
                                        "keyval": {"public": public}}
                ids.add(hashlib.sha256(sslib_canonical(meta)).hexdigest())
                meta["keyid_hash_algorithms"] = ["sha256", "sha512"]
                ids.add(hashlib.sha256(sslib_canonical(meta)).hexdigest())
    return ids


@dataclass
class Parsed:
    name: str
    signed: bytes  # canonical bytes of "signed": what the signatures cover
    materials: list[dict[str, Any]]
    products: list[dict[str, Any]]
    signatures: list[tuple[str, bytes]]  # (keyid, signature)
    keys: list[tuple[PublicKey, str]]
    verified: list[tuple[bytes, str, PublicKey, str]] = field(default_factory=list)


def _artifacts(value: Any, fld: str) -> list[dict[str, Any]]:
    """in-toto ``{"path": {"sha256": "<hex>", ...}}`` to a list sorted by path."""
    if not isinstance(value, dict):
        raise MalformedError("expected an object of path -> digests", field=fld)
    out = []
    for path in sorted(value):
        digests = value[path]
        if not isinstance(digests, dict) or not digests:
            raise MalformedError("expected an object of algorithm -> hex digest",
                                 field=f"{fld}[{path!r}]")
        for alg, hexd in digests.items():
            if not isinstance(hexd, str) or not _HEX.fullmatch(hexd):
                name = alg if alg.isidentifier() else repr(alg)  # one line, whatever alg is
                raise MalformedError("expected a hex digest", field=f"{fld}[{path!r}].{name}")
        out.append({"digest": {a: d.lower() for a, d in digests.items()}, "uri": path})
    return out


def _signatures(link: dict[str, Any]) -> list[tuple[str, bytes]]:
    out = []
    for sf, s in object_list(link, "signatures", ("keyid", "sig"),
                             "intoto-link.link.signatures", MAX_SIGNATURES):
        keyid = get(s, "keyid", str, f"{sf}.keyid")
        text = get(s, "sig", str, f"{sf}.sig")
        if not text or not _HEX.fullmatch(text) or len(text) % 2:
            raise MalformedError("expected a hex signature", field=f"{sf}.sig")
        out.append((keyid, bytes.fromhex(text)))
    return out


def _keys(doc: dict[str, Any]) -> list[tuple[PublicKey, str]]:
    items = get(doc, "public_keys", list, "intoto-link.public_keys")
    if not 1 <= len(items) <= MAX_KEYS:
        raise MalformedError(f"expected 1 to {MAX_KEYS} keys", field="intoto-link.public_keys")
    return pem_keys(items, "intoto-link.public_keys")


class IntotoLink:
    """The ``intoto-link`` entry type (tiledlog's own, v0.0.1)."""

    name = "intoto-link"
    kind, api_version = "intoto-link", "0.0.1"

    def parse(self, doc: dict[str, Any]) -> Parsed:
        check_fields(doc, _FIELDS, "intoto-link")
        link = get(doc, "link", dict, "intoto-link.link")
        if "payloadType" in link and "payload" in link:
            raise MalformedError("a DSSE envelope (in-toto-run --use-dsse), not a link file: "
                                 "give it with --dsse", field="intoto-link.link")
        check_fields(link, ("signed", "signatures"), "intoto-link.link")
        signed = get(link, "signed", dict, "intoto-link.link.signed")
        if signed.get("_type") != "link":
            raise MalformedError('expected "link"', field="intoto-link.link.signed._type")
        name = get(signed, "name", str, "intoto-link.link.signed.name")
        return Parsed(
            name,
            sslib_canonical(signed),
            _artifacts(signed.get("materials", {}), "intoto-link.link.signed.materials"),
            _artifacts(signed.get("products", {}), "intoto-link.link.signed.products"),
            _signatures(link),
            _keys(doc),
        )

    def verify(self, p: Parsed) -> None:
        keyids = [sslib_keyids(key) for key, _ in p.keys]
        used: set[int] = set()
        for i, (keyid, sig) in enumerate(p.signatures):
            matching = [k for k, ids in enumerate(keyids) if keyid in ids]
            order = matching + [k for k in range(len(p.keys)) if k not in matching]
            for k in order:
                key, fld = p.keys[k]
                options = [d for _, d in _schemes(key)]
                details = verify_message(key, options, sig, p.signed,
                                         f"intoto-link.link.signatures[{i}]")
                if details:
                    p.verified.append((sig, keyid, key, details))
                    used.add(k)
                    break
            else:
                raise VerificationError(f"intoto-link.link.signatures[{i}]: does not verify "
                                        "with any of the given public keys")
        for k, (_, fld) in enumerate(p.keys):
            if k not in used:
                raise VerificationError(f"{fld}: verifies none of the link's signatures")
        p.verified = sorted(dict((v[0], v) for v in p.verified).values(), key=lambda v: v[0])

    def canonical(self, p: Parsed) -> bytes:
        if not p.verified:
            raise VerificationError("intoto-link: canonical() before verify()")
        needed = {"sha256"} | {details_hash(d) or "sha256" for _, _, _, d in p.verified}
        body = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "spec": {"intotoLinkV001": {
                "materials": p.materials,
                "name": p.name,
                "products": p.products,
                "signatures": [
                    {"content": base64.b64encode(sig).decode(), "keyid": keyid,
                     "scheme": _scheme_of(details), "verifier": verifier_json(key, details)}
                    for sig, keyid, key, details in p.verified
                ],
                "signedHashes": [
                    hash_output(h, hashlib.new(h, p.signed).digest()) for h in sorted(needed)
                ],
            }},
        }
        try:
            return canonical_json(body)
        except MalformedError as e:
            raise MalformedError(str(e), field="intoto-link.link.signed") from e

    def parsed_search_keys(self, p: Parsed) -> list[str]:
        link_hash = hashlib.sha256(p.signed).hexdigest()
        return _keys_of(link_hash, p.materials + p.products, [k for _, _, k, _ in p.verified])

    def search_keys(self, entry: bytes) -> list[str]:
        d = _decode(entry)
        return _keys_of(d["hashes"]["sha256"].hex(), d["materials"] + d["products"],
                        [k for _, _, k, _ in d["signatures"]])

    def describe(self, entry: bytes) -> dict[str, Any]:
        d = _decode(entry)
        keys = _keys_of(d["hashes"]["sha256"].hex(), d["materials"] + d["products"],
                        [k for _, _, k, _ in d["signatures"]])
        return {
            "type": self.name,
            "name": d["name"],
            "digests": [k for k in keys if not k.startswith("key:")],
            "key_fingerprints": [k for k in keys if k.startswith("key:")],
            "materials": len(d["materials"]),
            "products": len(d["products"]),
            # What a person looks for in a list: the step's products, not the link's hash.
            "product_digests": [f"{alg}:{hexd}" for a in d["products"]
                                for alg, hexd in sorted(a["digest"].items())],
        }

    def verify_entry(self, entry: bytes) -> None:
        """Re-check ECDSA/RSA signatures against the logged digests (see module docstring)."""
        d = _decode(entry)
        for i, (sig, _, key, details) in enumerate(d["signatures"]):
            h = details_hash(details)
            if h is None:
                continue  # pure Ed25519 covers the unlogged canonical bytes
            fld = f"entry.spec.intotoLinkV001.signatures[{i}]"
            if h not in d["hashes"]:
                raise MalformedError(f"no {h} signed hash for this signature", field=fld)
            try:
                verify_digest(key, [details], sig, d["hashes"][h], fld)
            except MalformedError as e:
                raise VerificationError(f"logged in-toto signature is malformed: {e}") from e


def _keys_of(link_hash: str, artifacts: list[dict[str, Any]], keys: list[PublicKey]) -> list[str]:
    out = [f"sha256:{link_hash}"]
    for a in artifacts:
        for alg, hexd in a["digest"].items():
            if _SEARCHABLE.get(alg) == len(hexd):
                out.append(f"{alg}:{hexd}")
    out += [k.fingerprint for k in keys]
    return list(dict.fromkeys(out))


def _decode_artifacts(value: Any, fld: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise MalformedError("expected an array", field=fld)
    for i, a in enumerate(value):
        if not isinstance(a, dict) or set(a) != {"digest", "uri"}:
            raise MalformedError("expected {digest, uri}", field=f"{fld}[{i}]")
        if not isinstance(a["uri"], str) or not isinstance(a["digest"], dict) or not all(
            isinstance(v, str) for v in a["digest"].values()
        ):
            raise MalformedError("expected a path and hex digests", field=f"{fld}[{i}]")
    return value


def _decode(entry: bytes) -> dict[str, Any]:
    body = parse_entry(entry)
    check_fields(body, ("apiVersion", "kind", "spec"), "entry")
    f = "entry.spec.intotoLinkV001"
    spec = get(get(body, "spec", dict, "entry.spec"), "intotoLinkV001", dict, f)
    check_fields(spec, ("materials", "name", "products", "signatures", "signedHashes"), f)
    hashes = dict(parse_hash_output(h, f"{f}.signedHashes[{i}]")
                  for i, h in enumerate(get(spec, "signedHashes", list, f"{f}.signedHashes")))
    if "sha256" not in hashes:
        raise MalformedError("no SHA2_256 hash", field=f"{f}.signedHashes")
    sigs = []
    for i, s in enumerate(get(spec, "signatures", list, f"{f}.signatures")):
        sf = f"{f}.signatures[{i}]"
        if not isinstance(s, dict):
            raise MalformedError("expected an object", field=sf)
        check_fields(s, ("content", "keyid", "scheme", "verifier"), sf)
        key, details = parse_verifier(s.get("verifier"), f"{sf}.verifier")
        if details not in DETAILS or get(s, "scheme", str, f"{sf}.scheme") != _scheme_of(details):
            raise MalformedError("scheme does not match the key details", field=f"{sf}.scheme")
        sigs.append((b64(get(s, "content", str, f"{sf}.content"), f"{sf}.content"),
                     get(s, "keyid", str, f"{sf}.keyid"), key, details))
    if not sigs:
        raise MalformedError("no signatures", field=f"{f}.signatures")
    return {
        "name": get(spec, "name", str, f"{f}.name"),
        "materials": _decode_artifacts(spec.get("materials"), f"{f}.materials"),
        "products": _decode_artifacts(spec.get("products"), f"{f}.products"),
        "signatures": sigs,
        "hashes": hashes,
    }


TYPE = IntotoLink()
