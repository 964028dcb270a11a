"""Sigstore's formats for this log's entries: bundle v0.3 out and in, and the trusted root.

A ``hashedrekord`` entry of this log is byte for byte what Rekor v2 logs, so a Sigstore bundle
(protobuf-specs ``Bundle``, protojson) can carry it as a Rekor v2 entry::

    {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
     "verificationMaterial": {"certificate": {"rawBytes": <DER>},      # or "publicKey": {"hint"}
                              "tlogEntries": [<TransparencyLogEntry>],
                              "timestampVerificationData": {"rfc3161Timestamps": [...]}},
     "messageSignature": {"messageDigest": {"algorithm", "digest"}, "signature"}}
                                                          # or "dsseEnvelope": {...}

and the ``TransparencyLogEntry`` is the entry, its proof and the signed checkpoint:
``logIndex`` (a decimal string), ``logId.keyId`` (the checkpoint key's C2SP key ID, whose first
four bytes are the note signature's key hint), ``kindVersion`` hashedrekord 0.0.2,
``integratedTime`` "0" and no inclusion promise (a tiled log signs no per-entry timestamp: a
certificate needs an RFC 3161 timestamp for its verified time), ``inclusionProof`` {logIndex,
rootHash, treeSize, hashes, checkpoint.envelope = the signed note}, ``canonicalizedBody`` = the
entry bytes. A DSSE envelope is logged the Rekor v2 way: a hashedrekord over the hash of its
pre-authentication encoding, signed by the envelope's one signature.

What Sigstore's verifiers require beyond the specs (read in their code): sigstore-go names the
checkpoint key after the hostname of the trusted root's ``baseUrl`` and wants the checkpoint's
origin equal to it; sigstore-js wants the key name inside ``baseUrl``; sigstore-python matches
the key hint against ``logId.keyId``. So a Sigstore-compatible log's origin and key name are the
hostname it is served from (``tlog.client.sigstore.naming_problem`` says when they are not).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tlog.bundle import MAX_BUNDLE, MAX_PROOF, ProofBundle
from tlog.checkpoint import Checkpoint, parse_checkpoint
from tlog.entries.dsse import pae
from tlog.entries.hashedrekord import PURE_ED25519_REFUSED, logged_parts
from tlog.entries.keys import DETAILS, HASHES, load_public_key
from tlog.errors import MalformedError, VerificationError
from tlog.merkle import HASH_SIZE
from tlog.note import ALG_ED25519, parse_vkey

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "BUNDLE_MEDIA_TYPES",
    "DsseEnvelope",
    "SigstoreBundle",
    "check_bundle_matches_entry",
    "format_sigstore_bundle",
    "is_sigstore_bundle",
    "log_id",
    "log_public_key",
    "parse_dsse_envelope",
    "parse_sigstore_bundle",
    "signed_checkpoint",
    "sigstore_proof",
    "submission_from_bundle",
    "submission_from_create_entry",
    "transparency_log_entry",
]

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_MEDIA_TYPES = (
    BUNDLE_MEDIA_TYPE,
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
)
_ALG_NAMES = {v[0]: k for k, v in HASHES.items()}
MAX_TIMESTAMPS = 32  # as sigstore-go and sigstore-python
_ED25519_SPKI = bytes.fromhex("302a300506032b6570032100")


def log_id(vkey: str) -> bytes:
    """The C2SP key ID of the log's checkpoint key: SHA-256(name ‖ 0x0A ‖ type ‖ key), what
    Rekor v2 puts in ``logId.keyId`` (its first four bytes are the note key hint)."""
    name, _kid, alg, key = parse_vkey(vkey)
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + key).digest()


def log_public_key(vkey: str) -> tuple[bytes, str]:
    """The checkpoint key as (DER SubjectPublicKeyInfo, PublicKeyDetails) for a trusted root."""
    name, _kid, alg, key = parse_vkey(vkey)
    if alg != ALG_ED25519 or len(key) != 32:
        raise MalformedError(f"the log key {name!r} is not an Ed25519 key", field="vkey")
    return _ED25519_SPKI + key, "PKIX_ED25519"


@dataclass(frozen=True)
class DsseEnvelope:
    """A DSSE envelope with its one signature (the Rekor v2 form: a hashedrekord over PAE)."""

    payload_type: str
    payload: bytes
    signature: bytes
    keyid: str = ""

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def to_json(self) -> dict[str, Any]:
        sig: dict[str, str] = {"sig": _b64e(self.signature)}
        if self.keyid:
            sig["keyid"] = self.keyid
        return {"payload": _b64e(self.payload), "payloadType": self.payload_type,
                "signatures": [sig]}


def parse_dsse_envelope(obj: Any, field: str = "dsseEnvelope") -> DsseEnvelope:
    """A DSSE envelope object (as in a Sigstore bundle or an in-toto ``.intoto.jsonl`` line);
    exactly one signature, as Rekor v2 logs it."""
    if not isinstance(obj, dict):
        raise MalformedError("expected a DSSE envelope object", field=field)
    _only(obj, ("payload", "payloadType", "signatures"), field)
    ptype = _str(obj.get("payloadType"), f"{field}.payloadType")
    payload = _b64d(obj.get("payload"), f"{field}.payload", lenient=True)
    sigs = obj.get("signatures")
    if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], dict):
        raise MalformedError("a DSSE envelope logged the Rekor v2 way has exactly one "
                             "signature", field=f"{field}.signatures")
    _only(sigs[0], ("sig", "keyid"), f"{field}.signatures[0]")
    keyid = sigs[0].get("keyid", "")
    if not isinstance(keyid, str):
        raise MalformedError("expected a string", field=f"{field}.signatures[0].keyid")
    sig = _b64d(sigs[0].get("sig"), f"{field}.signatures[0].sig", lenient=True)
    return DsseEnvelope(ptype, payload, sig, keyid)


@dataclass(frozen=True)
class SigstoreBundle:
    """The parts of a Sigstore bundle this log reads (all unverified until checked)."""

    media_type: str
    signature: bytes  # the message signature, or the envelope's one signature
    message_digest: tuple[str, bytes] | None  # (sha256|sha384|sha512, digest), if given
    envelope: DsseEnvelope | None
    certificate: bytes | None  # DER of the signing certificate
    key_hint: str | None
    timestamps: tuple[bytes, ...]
    entry: ProofBundle | None  # the first tlog entry (index, body, proof, checkpoint)
    log_id: bytes | None
    tree_size: int | None
    root_hash: bytes | None


def signed_checkpoint(note: bytes) -> Checkpoint:
    """The checkpoint inside a signed note's text (unverified: the caller checks the note)."""
    text, sep, _sigs = bytes(note).partition(b"\n\n")
    if not sep:
        raise MalformedError("no blank line before the signatures", field="checkpoint")
    try:
        return parse_checkpoint(text.decode("utf-8") + "\n")
    except UnicodeDecodeError as e:
        raise MalformedError("checkpoint is not UTF-8", field="checkpoint") from e


def format_sigstore_bundle(
    proof: ProofBundle,
    log_key_id: bytes,
    *,
    envelope: DsseEnvelope | None = None,
    timestamps: Sequence[bytes] = (),
) -> bytes:
    """The Sigstore bundle v0.3 for a logged hashedrekord entry (see the module docstring).
    With ``envelope``, the entry must be the Rekor v2 form of that envelope."""
    if proof.entry is None:
        raise MalformedError("a Sigstore bundle needs the entry", field="entry")
    if len(timestamps) > MAX_TIMESTAMPS:
        raise MalformedError(f"at most {MAX_TIMESTAMPS} timestamps", field="timestamps")
    p = logged_parts(proof.entry)
    default = client_key_details(p.key.algorithm)
    if p.details != default:
        raise MalformedError(
            f"this entry was signed as {p.details}, and Sigstore's clients rebuild the entry "
            f"for this key as {default}: they could not verify a Sigstore bundle of it (the "
            "JSON bundle and tlog-proof formats can)", field="entry.keyDetails")
    if envelope is not None:
        _check_envelope(envelope, p.hash_name, p.digest, p.signature)
    material: dict[str, Any] = (
        {"certificate": {"rawBytes": p.key.der_b64}} if p.key.is_certificate
        else {"publicKey": {"hint": _b64e(hashlib.sha256(p.key.spki).digest())}})
    material["tlogEntries"] = [transparency_log_entry(proof, log_key_id)]
    if timestamps:
        material["timestampVerificationData"] = {
            "rfc3161Timestamps": [{"signedTimestamp": _b64e(t)} for t in timestamps]}
    doc: dict[str, Any] = {"mediaType": BUNDLE_MEDIA_TYPE, "verificationMaterial": material}
    if envelope is not None:
        doc["dsseEnvelope"] = envelope.to_json()
    else:
        doc["messageSignature"] = {
            "messageDigest": {"algorithm": HASHES[p.hash_name][0], "digest": _b64e(p.digest)},
            "signature": _b64e(p.signature)}
    return (json.dumps(doc, indent=2) + "\n").encode()


def client_key_details(algorithm: str) -> str:
    """The PublicKeyDetails Sigstore's clients assume for a key (their algorithm registries:
    PKCS#1 v1.5 for RSA, Ed25519ph for Ed25519), which they use to rebuild a Rekor v2 entry."""
    if algorithm == "ed25519":
        return "PKIX_ED25519_PH"
    if algorithm.startswith("rsa-"):
        return f"PKIX_RSA_PKCS1V15_{algorithm.removeprefix('rsa-')}_SHA256"
    return next(d for d, (alg, _) in DETAILS.items() if alg == algorithm)


def transparency_log_entry(proof: ProofBundle, key_id: bytes) -> dict[str, Any]:
    """The Rekor v2 ``TransparencyLogEntry`` (protojson) for a proven entry: what bundles
    carry and what ``POST /api/v2/log/entries`` answers."""
    cp = signed_checkpoint(proof.checkpoint)
    if not proof.index < cp.size:
        raise MalformedError(f"index {proof.index} is not below the checkpoint's size {cp.size}",
                             field="index")
    return {
        "logIndex": str(proof.index),
        "logId": {"keyId": _b64e(key_id)},
        "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
        "integratedTime": "0",
        "inclusionProof": {
            "logIndex": str(proof.index),
            "rootHash": _b64e(cp.root_hash),
            "treeSize": str(cp.size),
            "hashes": [_b64e(h) for h in proof.proof],
            "checkpoint": {"envelope": proof.checkpoint.decode("utf-8")},
        },
        "canonicalizedBody": _b64e(proof.entry or b""),
    }


def _check_envelope(env: DsseEnvelope, hash_name: str, digest: bytes, signature: bytes) -> None:
    if hashlib.new(hash_name, env.pae()).digest() != digest:
        raise VerificationError(f"the DSSE envelope's {hash_name} PAE digest is not the entry's "
                                "digest: this entry does not log that envelope")
    if env.signature != signature:
        raise VerificationError("the DSSE envelope's signature is not the entry's signature")


def parse_sigstore_bundle(data: bytes, *, entries: bool = True) -> SigstoreBundle:
    """Read a Sigstore bundle (v0.1 to v0.3 JSON), bounded, naming the field at fault. With
    ``entries=False`` its transparency log entries are not read (a bundle from another log,
    e.g. Rekor's public instance, submitted here: only its signature and signer matter)."""
    if len(data) > MAX_BUNDLE:
        raise MalformedError(f"bundle is larger than {MAX_BUNDLE} bytes", field="bundle")
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise MalformedError(f"not a JSON document: {e}", field="bundle") from e
    if not isinstance(doc, dict):
        raise MalformedError("expected a JSON object", field="bundle")
    media = doc.get("mediaType")
    if media not in BUNDLE_MEDIA_TYPES:
        raise MalformedError(f"not a Sigstore bundle v0.1-v0.3 (mediaType {media!r})",
                             field="mediaType")
    _only(doc, ("mediaType", "verificationMaterial", "messageSignature", "dsseEnvelope"),
          "bundle")
    vm = doc.get("verificationMaterial")
    if not isinstance(vm, dict):
        raise MalformedError("expected an object", field="verificationMaterial")
    _only(vm, ("certificate", "x509CertificateChain", "publicKey", "tlogEntries",
               "timestampVerificationData"), "verificationMaterial")
    cert, hint = _signer(vm)
    if ("messageSignature" in doc) == ("dsseEnvelope" in doc):
        raise MalformedError("give exactly one of messageSignature or dsseEnvelope",
                             field="bundle")
    envelope, digest = None, None
    if "dsseEnvelope" in doc:
        envelope = parse_dsse_envelope(doc["dsseEnvelope"])
        signature = envelope.signature
    else:
        signature, digest = _message_signature(doc["messageSignature"])
    entry, key_id, size, root = (_first_entry(vm.get("tlogEntries", [])) if entries
                                 else (None, None, None, None))
    return SigstoreBundle(media, signature, digest, envelope, cert, hint, _timestamps(vm),
                          entry, key_id, size, root)


def _signer(vm: dict[str, Any]) -> tuple[bytes | None, str | None]:
    f = "verificationMaterial"
    given = [k for k in ("certificate", "x509CertificateChain", "publicKey") if k in vm]
    if len(given) != 1:
        raise MalformedError("give exactly one of certificate, x509CertificateChain or "
                             "publicKey", field=f)
    if "publicKey" in vm:
        pk = vm["publicKey"]
        if not isinstance(pk, dict):
            raise MalformedError("expected an object", field=f"{f}.publicKey")
        hint = pk.get("hint", "")
        return None, hint if isinstance(hint, str) else ""
    if "certificate" in vm:
        return _raw_bytes(vm["certificate"], f"{f}.certificate"), None
    chain = vm["x509CertificateChain"]
    certs = chain.get("certificates") if isinstance(chain, dict) else None
    if not isinstance(certs, list) or not certs:
        raise MalformedError("expected a non-empty certificates list",
                             field=f"{f}.x509CertificateChain")
    return _raw_bytes(certs[0], f"{f}.x509CertificateChain.certificates[0]"), None


def _message_signature(ms: Any) -> tuple[bytes, tuple[str, bytes] | None]:
    f = "messageSignature"
    if not isinstance(ms, dict):
        raise MalformedError("expected an object", field=f)
    _only(ms, ("messageDigest", "signature"), f)
    sig = _b64d(ms.get("signature"), f"{f}.signature")
    md = ms.get("messageDigest")
    if md is None:
        return sig, None
    if not isinstance(md, dict):
        raise MalformedError("expected an object", field=f"{f}.messageDigest")
    alg = md.get("algorithm")
    if alg not in _ALG_NAMES:
        raise MalformedError(f"unsupported hash algorithm {alg!r} (SHA2_256, SHA2_384, "
                             "SHA2_512)", field=f"{f}.messageDigest.algorithm")
    name = _ALG_NAMES[alg]
    digest = _b64d(md.get("digest"), f"{f}.messageDigest.digest")
    if len(digest) != HASHES[name][2]:
        raise MalformedError(f"not a {name} digest", field=f"{f}.messageDigest.digest")
    return sig, (name, digest)


def _first_entry(entries: Any) -> tuple[ProofBundle | None, bytes | None, int | None,
                                        bytes | None]:
    f = "verificationMaterial.tlogEntries"
    if not isinstance(entries, list):
        raise MalformedError("expected a list", field=f)
    if not entries:
        return None, None, None, None
    if len(entries) > 1:  # the rest would go unchecked, and a "verified" would cover them
        raise MalformedError(f"{len(entries)} entries: tiledlog checks a bundle of one entry "
                             "(its log's): give a bundle of that entry alone", field=f)
    e = entries[0]
    f += "[0]"
    if not isinstance(e, dict):
        raise MalformedError("expected an object", field=f)
    kv = e.get("kindVersion")
    if kv != {"kind": "hashedrekord", "version": "0.0.2"}:
        raise MalformedError(f"this log writes hashedrekord 0.0.2 entries, not {kv!r}",
                             field=f"{f}.kindVersion")
    index = _decimal(e.get("logIndex"), f"{f}.logIndex")
    log_key = _b64d(_get(e, "logId", dict, f).get("keyId"), f"{f}.logId.keyId")
    body = _b64d(e.get("canonicalizedBody"), f"{f}.canonicalizedBody")
    ip = _get(e, "inclusionProof", dict, f)
    fp = f"{f}.inclusionProof"
    if _decimal(ip.get("logIndex"), f"{fp}.logIndex") != index:
        raise MalformedError("differs from the entry's logIndex", field=f"{fp}.logIndex")
    hashes = ip.get("hashes", [])
    if not isinstance(hashes, list) or len(hashes) > MAX_PROOF:
        raise MalformedError(f"expected at most {MAX_PROOF} hashes", field=f"{fp}.hashes")
    proof = tuple(_b64d(h, f"{fp}.hashes[{i}]") for i, h in enumerate(hashes))
    if any(len(h) != HASH_SIZE for h in proof):
        raise MalformedError("every hash is 32 bytes", field=f"{fp}.hashes")
    note = _str(_get(ip, "checkpoint", dict, fp).get("envelope"), f"{fp}.checkpoint.envelope")
    root = _b64d(ip.get("rootHash"), f"{fp}.rootHash")
    size = _decimal(ip.get("treeSize"), f"{fp}.treeSize")
    return ProofBundle(index, body, proof, note.encode()), log_key, size, root


def _timestamps(vm: dict[str, Any]) -> tuple[bytes, ...]:
    f = "verificationMaterial.timestampVerificationData"
    tvd = vm.get("timestampVerificationData")
    if tvd is None:
        return ()
    items = tvd.get("rfc3161Timestamps", []) if isinstance(tvd, dict) else None
    if not isinstance(items, list) or len(items) > MAX_TIMESTAMPS:
        raise MalformedError(f"expected a list of at most {MAX_TIMESTAMPS} timestamps",
                             field=f"{f}.rfc3161Timestamps")
    return tuple(_b64d(t.get("signedTimestamp") if isinstance(t, dict) else None,
                       f"{f}.rfc3161Timestamps[{i}].signedTimestamp")
                 for i, t in enumerate(items))


def check_bundle_matches_entry(b: SigstoreBundle) -> None:
    """The bundle's signature, digest or envelope and signer are the logged entry's: a bundle
    that staples someone else's entry to its own signature is refused (VerificationError)."""
    if b.entry is None or b.entry.entry is None:
        raise MalformedError("the bundle carries no transparency log entry",
                             field="verificationMaterial.tlogEntries")
    p = logged_parts(b.entry.entry)
    cp = signed_checkpoint(b.entry.checkpoint)
    if (b.tree_size, b.root_hash) != (cp.size, cp.root_hash):
        raise VerificationError("the inclusion proof's treeSize and rootHash are not the "
                                "signed checkpoint's")
    if b.envelope is not None:
        _check_envelope(b.envelope, p.hash_name, p.digest, p.signature)
    elif b.signature != p.signature:
        raise VerificationError("the bundle's messageSignature is not the logged signature")
    elif b.message_digest is not None and b.message_digest != (p.hash_name, p.digest):
        raise VerificationError("the bundle's messageDigest is not the logged digest")
    if b.certificate is not None and (not p.key.is_certificate or b.certificate != p.key.der):
        raise VerificationError("the bundle's certificate is not the one the entry logged")


def is_sigstore_bundle(data: bytes) -> bool:
    """Whether a proof file is meant as a Sigstore bundle: a JSON object with a ``mediaType``
    (this log's own bundle format has none), read then as one, with its errors."""
    head = bytes(data[:4096]).lstrip()
    return head.startswith(b"{") and b'"mediaType"' in bytes(data[:1 << 20])


def sigstore_proof(data: bytes, vkey: str) -> ProofBundle:
    """The proof in a Sigstore bundle of this log's entry: refused when the bundle's entry is
    from another log, or its signature, digest, envelope or certificate are not the logged
    ones. The caller still checks the checkpoint and the inclusion proof."""
    b = parse_sigstore_bundle(data)
    check_bundle_matches_entry(b)
    if b.log_id != log_id(vkey):
        raise VerificationError("the bundle's entry is from another log (its logId.keyId is "
                                "not this log key's ID)")
    assert b.entry is not None  # check_bundle_matches_entry refuses a bundle without one
    return b.entry


def submission_from_bundle(b: SigstoreBundle, public_key_pem: str | None = None
                           ) -> dict[str, Any]:
    """The ``hashedrekord`` submission that logs a bundle's signature the Rekor v2 way (a DSSE
    envelope as a digest of its PAE). A bundle names a bare key only by a hint, so that key
    comes from the caller."""
    if b.certificate is not None:
        pem = _pem(b.certificate)
        key = load_public_key(b.certificate, "verificationMaterial.certificate", True)
        signer: dict[str, str] = {"certificate": pem}
    elif public_key_pem:
        key = load_public_key(public_key_pem.encode(), "public key", False)
        signer = {"public_key": public_key_pem}
    else:
        raise MalformedError("the bundle names its key only by a hint: give the public key "
                             "too", field="verificationMaterial.publicKey")
    if b.envelope is not None:
        hash_name = _prehash(key.algorithm)
        digest = hashlib.new(hash_name, b.envelope.pae()).digest()
    elif b.message_digest is not None:
        hash_name, digest = b.message_digest
    else:
        raise MalformedError("the message signature has no messageDigest: log the artifact "
                             "with `tlog submit --artifact` instead",
                             field="messageSignature.messageDigest")
    return {"type": "hashedrekord", "digest": f"{hash_name}:{digest.hex()}",
            "signature": _b64e(b.signature), **signer}


def _prehash(algorithm: str) -> str:
    """The hash Rekor v2 signs a DSSE PAE with for a key algorithm (its algorithm registry)."""
    for details, (alg, h) in DETAILS.items():
        if alg == algorithm and h and "PSS" not in details:
            return h
    raise MalformedError(f"no Rekor v2 hash for {algorithm} keys", field="verifier")


def _pem(der: bytes, label: str = "CERTIFICATE") -> str:
    body = base64.b64encode(der).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def submission_from_create_entry(doc: Any, *, allow_pure_ed25519: bool = False
                                 ) -> dict[str, Any]:
    """The ``hashedrekord`` submission for a Rekor v2 ``CreateEntryRequest`` (protojson, as
    ``POST /api/v2/log/entries`` takes it): the same checks then apply as to any submission.
    Pure Ed25519 is refused unless the log allows it (Rekor v2 accepts only Ed25519ph)."""
    f = "hashedRekordRequestV002"
    if not isinstance(doc, dict):
        raise MalformedError("expected a JSON object (a CreateEntryRequest)", field="request")
    if "dsseRequestV002" in doc:
        raise MalformedError("Rekor v2 logs a DSSE envelope as a hashedRekordRequestV002 over "
                             "the digest of its PAE (the dsse type was dropped)",
                             field="dsseRequestV002")
    _only(doc, (f,), "request")
    req = _get(doc, f, dict, "request")
    _only(req, ("digest", "signature"), f)
    digest = _b64d(req.get("digest"), f"{f}.digest")
    sig = _get(req, "signature", dict, f)
    _only(sig, ("content", "verifier"), f"{f}.signature")
    content = _b64d(sig.get("content"), f"{f}.signature.content")
    fv = f"{f}.signature.verifier"
    ver = _get(sig, "verifier", dict, f"{f}.signature")
    _only(ver, ("publicKey", "x509Certificate", "keyDetails"), fv)
    details = _str(ver.get("keyDetails"), f"{fv}.keyDetails")
    if details not in DETAILS:
        raise MalformedError(f"unsupported key details {details!r}", field=f"{fv}.keyDetails")
    if details == "PKIX_ED25519" and not allow_pure_ed25519:
        raise MalformedError(PURE_ED25519_REFUSED, field=f"{fv}.keyDetails")
    hash_name = DETAILS[details][1] or {32: "sha256", 48: "sha384", 64: "sha512"}.get(len(digest))
    if hash_name is None or len(digest) != HASHES[hash_name][2]:
        raise MalformedError(f"a {len(digest)}-byte digest does not go with {details}",
                             field=f"{f}.digest")
    if ("publicKey" in ver) == ("x509Certificate" in ver):
        raise MalformedError("give exactly one of publicKey or x509Certificate", field=fv)
    which = "publicKey" if "publicKey" in ver else "x509Certificate"
    der = _raw_bytes(ver[which], f"{fv}.{which}")
    signer = ({"public_key": _pem(der, "PUBLIC KEY")} if which == "publicKey"
              else {"certificate": _pem(der)})
    return {"type": "hashedrekord", "digest": f"{hash_name}:{digest.hex()}",
            "signature": _b64e(content), **signer, "key_details": details}


# ----- small protojson readers ------------------------------------------------------------


def _b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _b64d(value: Any, field: str, *, lenient: bool = False) -> bytes:
    """protojson bytes: standard base64 (URL-safe and unpadded accepted, as protojson does)."""
    if not isinstance(value, str) or not value:
        raise MalformedError("expected a non-empty base64 string", field=field)
    text = value.rstrip("=")
    text += "=" * (-len(text) % 4)
    alt = b"-_" if ("-" in text or "_" in text) else b"+/"
    try:
        return base64.b64decode(text, altchars=alt, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError("invalid base64", field=field) from e


def _raw_bytes(obj: Any, field: str) -> bytes:
    if not isinstance(obj, dict):
        raise MalformedError("expected an object with rawBytes", field=field)
    return _b64d(obj.get("rawBytes"), f"{field}.rawBytes")


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise MalformedError("expected a string", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate, which JSON's \u escapes allow
        raise MalformedError("not valid Unicode text", field=field) from e
    return value


def _decimal(value: Any, field: str) -> int:
    """protojson int64: a decimal string (or a JSON number), 0..2^63-1."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        n = int(value)
    else:
        raise MalformedError("expected a decimal integer", field=field)
    if not 0 <= n < 1 << 63:
        raise MalformedError("out of range", field=field)
    return n


def _get(obj: dict[str, Any], key: str, kind: type, field: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind):
        raise MalformedError(f"expected {'an object' if kind is dict else kind.__name__}",
                             field=f"{field}.{key}")
    return value


def _only(obj: dict[str, Any], allowed: tuple[str, ...], field: str) -> None:
    for k in obj:
        if k not in allowed:
            raise MalformedError(f"unknown member {k!r}", field=field)
