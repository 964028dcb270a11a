"""Submitters' public keys: loading, Rekor ``PublicKeyDetails``, fingerprints, verification.

Keys are PEM or DER SubjectPublicKeyInfo, or an X.509 certificate (PEM or DER) whose key is
used; chains are validated at admission only by a log with X.509 trust roots
(``tlog.client.admission``), not here. Supported
algorithms and their sigstore ``PublicKeyDetails`` names (what entries record)::

    Ed25519        PKIX_ED25519 (pure, over the message)   PKIX_ED25519_PH (over a SHA-512 digest)
    ECDSA P-256    PKIX_ECDSA_P256_SHA_256     P-384  PKIX_ECDSA_P384_SHA_384
    ECDSA P-521    PKIX_ECDSA_P521_SHA_512
    RSA 2048/3072/4096 with SHA-256: PKIX_RSA_PKCS1V15_<bits>_SHA256, PKIX_RSA_PSS_<bits>_SHA256

A key is named by its fingerprint ``key:<sha256 hex of the DER SubjectPublicKeyInfo>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from tlog.ed25519 import verify as verify_ed25519
from tlog.errors import MalformedError, VerificationError

from .ed25519ph import verify_ed25519ph

__all__ = [
    "DETAILS",
    "HASHES",
    "PublicKey",
    "candidate_details",
    "details_hash",
    "key_fingerprint",
    "load_public_key",
    "verify_digest",
    "verify_message",
]

# name -> (Rekor HashAlgorithm name, cryptography hash, digest size)
HASHES: dict[str, tuple[str, hashes.HashAlgorithm, int]] = {
    "sha256": ("SHA2_256", hashes.SHA256(), 32),
    "sha384": ("SHA2_384", hashes.SHA384(), 48),
    "sha512": ("SHA2_512", hashes.SHA512(), 64),
}
_CURVES = {"secp256r1": "P256_SHA_256", "secp384r1": "P384_SHA_384", "secp521r1": "P521_SHA_512"}
_RSA_SIZES = (2048, 3072, 4096)

# PublicKeyDetails -> (key algorithm, the hash it signs with; None = pure Ed25519)
DETAILS: dict[str, tuple[str, str | None]] = {
    "PKIX_ED25519": ("ed25519", None),
    "PKIX_ED25519_PH": ("ed25519", "sha512"),
    "PKIX_ECDSA_P256_SHA_256": ("ecdsa-secp256r1", "sha256"),
    "PKIX_ECDSA_P384_SHA_384": ("ecdsa-secp384r1", "sha384"),
    "PKIX_ECDSA_P521_SHA_512": ("ecdsa-secp521r1", "sha512"),
    **{f"PKIX_RSA_{p}_{n}_SHA256": (f"rsa-{n}", "sha256") for p in ("PKCS1V15", "PSS")
       for n in _RSA_SIZES},
}


@dataclass(frozen=True)
class PublicKey:
    """A parsed key: ``der`` is what entries record (the SPKI, or the whole certificate)."""

    key: Any
    der: bytes
    is_certificate: bool
    spki: bytes
    algorithm: str  # "ed25519", "ecdsa-secp256r1", "rsa-2048", ... (as in DETAILS)
    fingerprint: str  # key:<sha256 hex of spki>
    der_b64: str  # base64 of der, as entries carry it
    raw: bytes = b""  # an Ed25519 key's 32 bytes (what libsodium takes)


def key_fingerprint(spki_der: bytes) -> str:
    """``key:<sha256 hex of the DER SubjectPublicKeyInfo>``: how entries name a key."""
    return "key:" + hashlib.sha256(spki_der).hexdigest()


def details_hash(details: str) -> str | None:
    """The hash a ``PublicKeyDetails`` name signs with (None: pure Ed25519)."""
    return DETAILS[details][1]


def _algorithm(key: Any, what: str, field: str) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise MalformedError(
                f"unsupported curve {key.curve.name} (P-256, P-384 or P-521)", field=field
            )
        return f"ecdsa-{key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in _RSA_SIZES:
            raise MalformedError(
                f"RSA keys must be 2048, 3072 or 4096 bits, got {key.key_size}", field=field
            )
        return f"rsa-{key.key_size}"
    raise MalformedError(f"unsupported {what} algorithm (Ed25519, ECDSA or RSA)", field=field)


def _pem_or_der(data: bytes, field: str) -> tuple[bytes, bool]:
    """(DER, whether it is a certificate) from PEM text, DER, or base64 of DER."""
    if b"-----BEGIN" in data:
        is_cert = b"-----BEGIN CERTIFICATE-----" in data
        if not is_cert and b"-----BEGIN PUBLIC KEY-----" not in data:
            raise MalformedError("expected a PUBLIC KEY or CERTIFICATE PEM block", field=field)
        return data, is_cert
    if data[:1] != b"\x30":  # not DER: maybe base64 of DER (Rekor's rawBytes)
        try:
            data = base64.b64decode(b"".join(data.split()), validate=True)
        except (binascii.Error, ValueError) as e:
            raise MalformedError("not a PEM, DER or base64 DER key", field=field) from e
    return data, False


@lru_cache(maxsize=4096)
def load_public_key(data: bytes, field: str, certificate: bool | None = None) -> PublicKey:
    """A key from PEM/DER/base64-DER SPKI or certificate bytes; ``certificate`` forces the
    kind (None: detect). Cached: submitters reuse a handful of keys."""
    blob, is_cert = _pem_or_der(bytes(data), field)
    is_cert = is_cert if certificate is None else certificate
    what = "certificate" if is_cert else "public key"
    pem = b"-----BEGIN" in blob
    try:
        if is_cert:
            cert = (x509.load_pem_x509_certificate if pem else x509.load_der_x509_certificate)(
                blob
            )
            key, der = cert.public_key(), cert.public_bytes(serialization.Encoding.DER)
        else:
            key = (serialization.load_pem_public_key if pem else serialization.load_der_public_key)(
                blob
            )
            der = b""
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise MalformedError(f"not a valid PEM or DER {what}", field=field) from e
    algorithm = _algorithm(key, what, field)
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = der or spki
    raw = key.public_bytes_raw() if algorithm == "ed25519" else b""
    return PublicKey(key, der, is_cert, spki, algorithm, key_fingerprint(spki),
                     base64.b64encode(der).decode(), raw)


def candidate_details(
    key: PublicKey, hash_name: str | None, field: str, *, requested: str | None = None,
    rsa_pss: bool = False, prehashed: bool = True,
) -> tuple[str, ...]:
    """The ``PublicKeyDetails`` a signature by ``key`` may use, in the order to try them.

    ``hash_name`` is the digest's algorithm (hashedrekord) or None (a signed message).
    ``requested`` pins one; ``rsa_pss`` pins PSS for RSA; ``prehashed=False`` (DSSE, in-toto)
    leaves out Ed25519ph. An impossible combination raises MalformedError naming ``field``.
    """
    return _candidates(key.algorithm, hash_name, field, requested, rsa_pss, prehashed)


@lru_cache(maxsize=256)
def _candidates(algorithm: str, hash_name: str | None, field: str, requested: str | None,
                rsa_pss: bool, prehashed: bool) -> tuple[str, ...]:
    """``candidate_details`` by the key's algorithm (cached: admission asks it for every
    document, with a handful of distinct answers)."""
    if requested is not None:
        if requested not in DETAILS:
            raise MalformedError(f"unknown key details {requested!r}", field=field)
        options = [requested]
    elif algorithm == "ed25519":
        ph = prehashed and hash_name in (None, "sha512")
        options = ["PKIX_ED25519_PH", "PKIX_ED25519"] if ph else ["PKIX_ED25519"]
    elif algorithm.startswith("ecdsa-"):
        options = [f"PKIX_ECDSA_{_CURVES[algorithm[6:]]}"]
    else:
        bits = algorithm[4:]
        pss, pkcs = f"PKIX_RSA_PSS_{bits}_SHA256", f"PKIX_RSA_PKCS1V15_{bits}_SHA256"
        options = [pss] if rsa_pss else [pkcs, pss]
    for name in options:
        key_algorithm, fixed = DETAILS[name]
        if key_algorithm != algorithm:
            raise MalformedError(f"{name} does not fit a {algorithm} key", field=field)
        if fixed and hash_name and fixed != hash_name:
            raise MalformedError(
                f"a {algorithm} key with {name} signs {fixed} digests, not {hash_name}",
                field=field,
            )
    return tuple(options)


def _check_encoding(key: PublicKey, signature: bytes, field: str) -> None:
    """Reject signatures of the wrong shape before any maths (MalformedError)."""
    if key.algorithm == "ed25519" and len(signature) != 64:
        raise MalformedError(
            f"an Ed25519 signature is 64 bytes, got {len(signature)}", field=field
        )
    if key.algorithm.startswith("rsa-") and len(signature) != key.key.key_size // 8:
        raise MalformedError(
            f"an RSA-{key.key.key_size} signature is {key.key.key_size // 8} bytes, "
            f"got {len(signature)}", field=field,
        )
    if key.algorithm.startswith("ecdsa-"):
        try:
            utils.decode_dss_signature(signature)
        except ValueError as e:
            raise MalformedError("an ECDSA signature must be ASN.1 DER", field=field) from e


def _verify(key: PublicKey, details: str, sig: bytes, data: bytes, prehashed: bool) -> bool:
    k, hash_name = key.key, DETAILS[details][1]
    try:
        if details == "PKIX_ED25519_PH":
            if not prehashed:
                data = hashlib.sha512(data).digest()
            return verify_ed25519ph(key.raw, sig, data)
        if details == "PKIX_ED25519":
            return verify_ed25519(k, key.raw, sig, data)
        if hash_name is None:  # only Ed25519 signs without a hash
            return False
        algo: Any = HASHES[hash_name][1]
        if prehashed:
            algo = utils.Prehashed(algo)
        if details.startswith("PKIX_ECDSA"):
            k.verify(sig, data, ec.ECDSA(algo))
        elif details.startswith("PKIX_RSA_PSS"):
            pss = padding.PSS(padding.MGF1(HASHES[hash_name][1]), padding.PSS.AUTO)
            k.verify(sig, data, pss, algo)
        else:
            k.verify(sig, data, padding.PKCS1v15(), algo)
        return True
    except (InvalidSignature, ValueError):
        return False


_PURE = ("PKIX_ED25519",)


_LAST: dict[tuple[str, tuple[str, ...]], str] = {}  # see _first
_LAST_MOST = 4096


def _first(
    key: PublicKey, options: Sequence[str], sig: bytes, data: bytes, pre: bool
) -> str | None:
    """The first of ``options`` under which ``sig`` verifies, trying first the one that
    verified this key's last signature: a key signs with one padding (or one Ed25519 variant)
    every time, and trying the other first cost RSA-PSS and pure Ed25519 signatures a second,
    failing check each. Only the order changes: a signature verifying under two of a key's
    options would need a hash collision, so the answer is the same."""
    options = tuple(options)
    if len(options) == 1:
        return options[0] if _verify(key, options[0], sig, data, pre) else None
    remembered = (key.fingerprint, options)
    last = _LAST.get(remembered)
    order = options if last is None else (last, *(o for o in options if o != last))
    for details in order:
        if _verify(key, details, sig, data, pre):
            if details != last:
                if len(_LAST) >= _LAST_MOST:
                    _LAST.clear()
                _LAST[remembered] = details
            return details
    return None


def verify_digest(
    key: PublicKey, options: Sequence[str], signature: bytes, digest: bytes, field: str
) -> str:
    """Check ``signature`` over the artifact with this ``digest``; return the details that
    verified (PKIX_ED25519: pure Ed25519 over the digest bytes themselves)."""
    if options == _PURE and len(signature) == 64:  # the common case, kept short
        if verify_ed25519(key.key, key.raw, signature, digest):
            return "PKIX_ED25519"
        raise VerificationError(f"{field}: does not verify with the given {_what(key)}")
    _check_encoding(key, signature, field)
    found = _first(key, options, signature, digest, True)
    if found is None:
        raise VerificationError(f"{field}: does not verify with the given {_what(key)}")
    return found


def verify_message(key: PublicKey, options: Sequence[str], signature: bytes, message: bytes,
                   field: str) -> str | None:
    """The details under which ``signature`` verifies over ``message``, or None. A signature
    of the wrong shape for this key simply does not verify (several keys may be tried)."""
    try:
        _check_encoding(key, signature, field)
    except MalformedError:
        return None
    return _first(key, options, signature, message, False)


def _what(key: PublicKey) -> str:
    return "certificate's key" if key.is_certificate else "public key"
