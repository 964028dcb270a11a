"""Real signed submissions for tests and benchmarks (fixed keys, so runs are reproducible)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tlog.entries import canonical_json
from tlog.entries.dsse import pae
from tlog.entries.intoto_link import sslib_canonical


def ed25519_key(seed: int) -> tuple[ed25519.Ed25519PrivateKey, str]:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"key %d" % seed).digest())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return key, pem


def hashedrekord_doc(key: ed25519.Ed25519PrivateKey, pem: str, artifact: bytes) -> bytes:
    """An Ed25519 hashedrekord submission: the key signs the artifact's SHA-256 digest."""
    digest = hashlib.sha256(artifact).digest()
    doc = {
        "type": "hashedrekord",
        "digest": "sha256:" + digest.hex(),
        "signature": base64.b64encode(key.sign(digest)).decode(),
        "public_key": pem,
    }
    return json.dumps(doc).encode()


def signed_hashedrekord_docs(algo: str, n: int, seed: int = 0, keys: int = 4) -> list[bytes]:
    """n hashedrekord submissions for distinct artifacts, signed with ``algo`` (see
    ``signers.ALGOS``) by a few fixed keys."""
    from signers import signer

    signers = [signer(algo, seed * 1000 + k) for k in range(keys)]
    pems = [s.pem() for s in signers]
    out = []
    for i in range(n):
        s = signers[i % keys]
        artifact = b"artifact %d of run %d" % (i, seed)
        out.append(json.dumps({
            "type": "hashedrekord", "digest": s.artifact_digest(artifact),
            "signature": base64.b64encode(s.sign_artifact(artifact)).decode(),
            "public_key": pems[i % keys]}).encode())
    return out


def hashedrekord_docs(n: int, seed: int = 0, keys: int = 4) -> Iterator[tuple[str, bytes]]:
    """(queue key, document) for n distinct artifacts signed by a few fixed keys."""
    signers = [ed25519_key(seed * 1000 + k) for k in range(keys)]
    for i in range(n):
        key, pem = signers[i % keys]
        doc = hashedrekord_doc(key, pem, b"artifact %d of run %d" % (i, seed))
        sid = hashlib.sha256(canonical_json(json.loads(doc))).hexdigest()
        yield f"pending/{sid}.json", doc


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def format_signature_docs(fmt: str, n: int, seed: int = 0) -> list[bytes]:
    """n ``signature`` submissions in a tool's own format, made here byte for byte as the tool
    makes them (ssh-keygen -Y sign's SSHSIG; minisign's default prehashed signature; signify),
    so that benchmarks need not run the tool per document. The tests use the tools."""
    key, _ = ed25519_key(seed)
    raw = key.public_key().public_bytes_raw()
    out = []
    for i in range(n):
        artifact = b"artifact %d of run %d" % (i, seed)
        digests = {"sha256": hashlib.sha256(artifact).hexdigest()}
        doc: dict[str, object] = {"type": "signature", "format": fmt, "digests": digests,
                                  "artifact": base64.b64encode(artifact).decode()}
        if fmt == "ssh":
            blob = _ssh_string(b"ssh-ed25519") + _ssh_string(raw)
            h = hashlib.sha512(artifact).digest()
            signed = (b"SSHSIG" + _ssh_string(b"file") + _ssh_string(b"")
                      + _ssh_string(b"sha512") + _ssh_string(h))
            sig = _ssh_string(b"ssh-ed25519") + _ssh_string(key.sign(signed))
            body = (b"SSHSIG" + (1).to_bytes(4, "big") + _ssh_string(blob) + _ssh_string(b"file")
                    + _ssh_string(b"") + _ssh_string(b"sha512") + _ssh_string(sig))
            b64 = base64.b64encode(body).decode()
            armored = "-----BEGIN SSH SIGNATURE-----\n" + "\n".join(
                b64[j:j + 76] for j in range(0, len(b64), 76)) + "\n-----END SSH SIGNATURE-----\n"
            doc["signature"] = base64.b64encode(armored.encode()).decode()
            doc["public_key"] = base64.b64encode(
                b"ssh-ed25519 " + base64.b64encode(blob) + b" bench\n").decode()
            digests["sha512"] = h.hex()
        elif fmt in ("minisign", "signify"):
            keynum = hashlib.sha256(raw).digest()[:8]
            if fmt == "minisign":
                sig = key.sign(hashlib.blake2b(artifact).digest())
                comment = b"timestamp:0\tfile:artifact"
                text = (b"untrusted comment: bench\n"
                        + base64.b64encode(b"ED" + keynum + sig) + b"\ntrusted comment: "
                        + comment + b"\n" + base64.b64encode(key.sign(sig + comment)) + b"\n")
                pub = (b"untrusted comment: minisign public key\n"
                       + base64.b64encode(b"Ed" + keynum + raw) + b"\n")
                digests["blake2b512"] = hashlib.blake2b(artifact).hexdigest()
            else:
                text = (b"untrusted comment: verify with bench.pub\n"
                        + base64.b64encode(b"Ed" + keynum + key.sign(artifact)) + b"\n")
                pub = (b"untrusted comment: signify public key\n"
                       + base64.b64encode(b"Ed" + keynum + raw) + b"\n")
            doc["signature"] = base64.b64encode(text).decode()
            doc["public_key"] = base64.b64encode(pub).decode()
        else:
            raise ValueError(fmt)
        out.append(json.dumps(doc).encode())
    return out


def dsse_doc(signer: tuple[Any, str], artifact: bytes) -> bytes:
    """A ``dsse`` submission: an in-toto statement about ``artifact`` in a signed envelope."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1",
                            "subject": [{"name": "release", "digest": {
                                "sha256": hashlib.sha256(artifact).hexdigest()}}],
                            "predicateType": "https://slsa.dev/provenance/v1",
                            "predicate": {}}).encode()
    ptype = "application/vnd.in-toto+json"
    sig = signer[0].sign(pae(ptype, statement))
    return json.dumps({"type": "dsse", "public_keys": [signer[1]], "envelope": {
        "payloadType": ptype, "payload": base64.b64encode(statement).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]}}).encode()


def link_doc(signer: tuple[Any, str], artifact: bytes, i: int) -> bytes:
    """An ``intoto-link`` submission: step ``package-i`` whose product is ``artifact``."""
    signed = {"_type": "link", "name": f"package-{i}", "command": ["tar", "czf", "out.tgz"],
              "materials": {}, "products": {"out.tgz": {
                  "sha256": hashlib.sha256(artifact).hexdigest()}},
              "byproducts": {}, "environment": {}}
    sig = signer[0].sign(sslib_canonical(signed)).hex()
    return json.dumps({"type": "intoto-link", "public_keys": [signer[1]],
                       "link": {"signed": signed,
                                "signatures": [{"keyid": "", "sig": sig}]}}).encode()
