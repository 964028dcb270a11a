"""Submission documents built from the files signers already have: an artifact (or its
digest), a signature (raw or base64) and a key or certificate (PEM, DER or base64 DER); a DSSE
envelope; an in-toto link. Pure: bytes in, a document (a dict) out."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from tlog.errors import ConfigError, MalformedError

__all__ = ["build_dsse", "build_hashedrekord", "build_intoto_link", "build_signature",
           "build_statement", "signature_bytes"]


class _WholeMessage(Exception):
    """A pure Ed25519 signature over the artifact itself: a ``signature`` entry, not a
    hashedrekord (which carries only a digest)."""


def signature_bytes(data: bytes) -> bytes:
    """A signature file holds raw bytes, or base64 text (as cosign and ``openssl base64``
    write it; whitespace and line breaks ignored). Text that decodes is taken as base64:
    raw signature bytes are practically never all base64 characters."""
    text = b"".join(data.split())
    if text and len(text) % 4 == 0:
        try:
            decoded = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return data
        if decoded and base64.b64encode(decoded) == text:
            return decoded
    return data


def _pem(data: bytes, field: str, certificate: bool | None) -> tuple[str, Any]:
    """A key or certificate file (PEM, DER or base64 DER) as PEM text, and the parsed key."""
    from tlog.entries.keys import load_public_key

    key = load_public_key(data, field, certificate)
    label = "CERTIFICATE" if key.is_certificate else "PUBLIC KEY"
    b64 = base64.encodebytes(key.der).decode().replace("\n", "")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n", key


def _artifact_digest(artifact: bytes, key: Any, sig: bytes, requested: str | None) -> str:
    """The digest to log for an artifact: the one the key's algorithm signs with. For
    Ed25519 the signature decides: Ed25519ph (SHA-512, Rekor's form) or pure Ed25519 over
    the SHA-256 digest (tiledlog's); pure Ed25519 over the artifact cannot be logged."""
    from tlog.entries.keys import DETAILS, candidate_details, verify_message

    if requested:
        name = DETAILS[requested][1] if requested in DETAILS else None
        return _spec(name or "sha256", artifact)
    if key.algorithm.startswith("ecdsa-"):  # each curve signs with its own hash
        (details,) = candidate_details(key, None, "--public-key")
        return _spec(DETAILS[details][1] or "sha256", artifact)
    if key.algorithm == "ed25519":
        sha512 = hashlib.sha512(artifact).digest()
        if verify_message(key, ["PKIX_ED25519_PH"], sig, artifact, "signature"):
            return "sha512:" + sha512.hex()
        if not verify_message(key, ["PKIX_ED25519"], sig, hashlib.sha256(artifact).digest(),
                              "signature") and verify_message(key, ["PKIX_ED25519"], sig,
                                                              artifact, "signature"):
            raise _WholeMessage()
    return _spec("sha256", artifact)


def _spec(name: str, data: bytes) -> str:
    return f"{name}:{hashlib.new(name, data).hexdigest()}"


def build_hashedrekord(
    artifact: bytes | None,
    digest: str | None,
    signature: bytes,
    key_pem: bytes,
    *,
    certificate: bool = False,
    rsa_pss: bool = False,
    key_details: str | None = None,
) -> dict[str, Any]:
    """A hashedrekord submission document from an artifact (or its digest ``alg:hex``), a
    signature (raw or base64) and the signer's key or certificate (PEM or DER)."""
    field = "--certificate" if certificate else "--public-key"
    pem, key = _pem(key_pem, field, True if certificate else None)
    sig = signature_bytes(signature)
    if digest is None:
        if artifact is None:
            raise ConfigError("--artifact or --digest is required")
        digest = _artifact_digest(artifact, key, sig, key_details)
    doc: dict[str, Any] = {
        "type": "hashedrekord",
        "digest": digest.strip().lower(),
        "signature": base64.b64encode(sig).decode(),
        ("certificate" if key.is_certificate else "public_key"): pem,
    }
    if rsa_pss:
        doc["rsa_pss"] = True
    if key_details:
        doc["key_details"] = key_details
    return doc


def _keys(public_keys: Sequence[bytes], certificates: Sequence[bytes]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, files, cert in (("public_keys", public_keys, None),
                              ("certificates", certificates, True)):
        for i, data in enumerate(files):
            pem, key = _pem(data, f"--{name[:-1].replace('_', '-')}[{i}]", cert)
            out.setdefault("certificates" if key.is_certificate else "public_keys", []).append(pem)
    return out


def _json_file(data: bytes, field: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise MalformedError("not a JSON file", field=field) from e


def build_dsse(envelope: bytes, public_keys: Sequence[bytes],
               certificates: Sequence[bytes] = ()) -> dict[str, Any]:
    """A dsse submission document from a DSSE envelope file and the signers' keys."""
    return {"type": "dsse", "envelope": _json_file(envelope, "--dsse"),
            **_keys(public_keys, certificates)}


def build_intoto_link(link: bytes, public_keys: Sequence[bytes]) -> dict[str, Any]:
    """An intoto-link submission document from a link file and the functionaries' keys."""
    return {"type": "intoto-link", "link": _json_file(link, "--link"), **_keys(public_keys, ())}




def build_signature(artifact: bytes, signature: bytes, key: bytes, fmt: str,
                    namespace: str | None = None) -> dict[str, Any]:
    """A ``signature`` submission: a tool's own signature file and key file, and the artifact
    with its digests (the log checks them against it and keeps only the digests). An artifact
    over ``MAX_ARTIFACT`` signed by a prehashed scheme goes as the one digest its signature
    covers (then searchable by that digest, not by sha256)."""
    from tlog.entries.signature import MAX_ARTIFACT, prehash_of

    pre = prehash_of(fmt, signature)
    if not pre and len(artifact) > MAX_ARTIFACT:
        how = {"minisign": "minisign without -l", "openpgp": "a hashedrekord (openssl dgst "
               "-sha256 -sign), minisign without -l, or ssh-keygen -Y sign"}.get(
            fmt, "ssh-keygen -Y sign, minisign without -l, or a hashedrekord")
        raise ConfigError(f"--artifact: {len(artifact)} bytes: this {fmt} signature signs the "
                          f"whole file, which the log must see to check, and it takes at most "
                          f"{MAX_ARTIFACT} bytes of it: sign the file's digest instead, with "
                          f"{how}")
    digests: dict[str, str] = {}
    doc: dict[str, Any] = {"type": "signature", "format": fmt,
                           "signature": base64.b64encode(signature).decode(),
                           "public_key": base64.b64encode(key).decode(), "digests": digests}
    if pre:
        digests[pre] = (hashlib.blake2b(artifact) if pre == "blake2b512"
                        else hashlib.new(pre, artifact)).hexdigest()
    if not pre or len(artifact) <= MAX_ARTIFACT:
        digests["sha256"] = hashlib.sha256(artifact).hexdigest()
        doc["artifact"] = base64.b64encode(artifact).decode()
    if namespace is not None:
        doc["namespace"] = namespace
    return doc


_SECRET = ((b"-----BEGIN OPENSSH PRIVATE KEY-----", "an OpenSSH private key", "its .pub"),
           (b"untrusted comment: minisign encrypted secret key", "a minisign secret key",
            "the .pub `minisign -G` wrote"),
           (b"untrusted comment: minisign secret key", "a minisign secret key",
            "the .pub `minisign -G` wrote"),
           (b"untrusted comment: signify secret key", "a signify secret key",
            "the .pub `signify -G` wrote"),
           (b"-----BEGIN PGP PRIVATE KEY BLOCK-----", "an OpenPGP secret key",
            "gpg --export --armor KEYID"),
           (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", "a private key",
            "openssl pkey -pubout"))


def _not_public(key: bytes) -> str | None:
    """What is wrong with a file given as a public key that is a secret one (it would be
    published in the log)."""
    head = key.lstrip()[:64]
    for start, what, instead in _SECRET:
        if head.startswith(start):
            return (f"this is {what}: give the public key ({instead}), never the secret one "
                    "(the log publishes the key it is given)")
    if head.startswith(b"-----BEGIN ") and b"PRIVATE KEY-----" in head:
        return ("this is a private key: give the public key (openssl pkey -pubout), never the "
                "secret one (the log publishes the key it is given)")
    return None


def _not_detached(signature: bytes) -> str | None:
    head = signature.lstrip()[:64]
    if head.startswith((b"-----BEGIN PGP SIGNED MESSAGE-----", b"-----BEGIN PGP MESSAGE-----")):
        return ("an OpenPGP signed message (gpg --clearsign or --sign), not a detached "
                "signature: sign with gpg --detach-sign (--armor for text)")
    return None


_TOOLS = {"ssh": "an SSH", "openpgp": "an OpenPGP", "minisign": "a minisign",
          "signify": "a signify"}
_LOOKS = {"ssh": "ssh-keygen -Y sign writes -----BEGIN SSH SIGNATURE----- and its end line",
          "openpgp": "a detached signature, armored or binary",
          "minisign": "a .minisig has four lines", "signify": "a .sig has two lines"}


def build_statement(
    artifact: bytes | None,
    digest: str | None,
    signature: bytes,
    key: bytes,
    *,
    certificate: bool = False,
    rsa_pss: bool = False,
    key_details: str | None = None,
    fmt: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The submission for a signed artifact, whatever made the signature: a tool's own format
    (OpenPGP, SSH, minisign, signify; ``fmt``, else read off the signature file) becomes a
    ``signature`` submission, a pure Ed25519 signature over the artifact too; any other a
    ``hashedrekord``."""
    from tlog.entries.signature import detect_format, key_format

    if problem := _not_public(key):
        raise ConfigError(f"--public-key: {problem}")
    if problem := _not_detached(signature):
        raise ConfigError(f"--signature: {problem}")
    held, named = key_format(key), fmt
    fmt = fmt or detect_format(signature)
    if held == "keybox":
        raise ConfigError("--public-key: a GnuPG keybox (pubring.kbx) is GnuPG's own store, "
                          "not a key file: give an exported key (gpg --export --armor KEYID)")
    if not named and fmt == "signify" and held == "minisign":
        fmt = held  # a minisign file cut short looks like signify's; its key's comment says
        # minisign (a whole minisign file is told by its trusted comment, whatever the key's)
    if not fmt and held and not certificate:
        raise ConfigError(f"--signature: not {_TOOLS[held]} signature, which --public-key "
                          f"({_TOOLS[held]} key) checks: is the file whole? ({_LOOKS[held]})")
    if fmt and fmt != "hashedrekord":
        if artifact is None:
            raise ConfigError(f"a {fmt} signature is checked against the artifact: give "
                              "--artifact, not --digest")
        return build_signature(artifact, signature, key, fmt, namespace)
    try:
        return build_hashedrekord(artifact, digest, signature, key, certificate=certificate,
                                  rsa_pss=rsa_pss, key_details=key_details)
    except _WholeMessage:
        assert artifact is not None  # only raised for an artifact
        return build_signature(artifact, signature_bytes(signature), key, "ed25519")
