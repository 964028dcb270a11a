"""Real signed submissions for tests and benchmarks (fixed keys, so runs are reproducible)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tlog.entries import canonical_json


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
