"""Submitters' public keys: loading (PEM, DER, X.509), Rekor key details, fingerprints, checks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from tlog.errors import MalformedError, VerificationError

__all__ = ["HASHES", "Verifier", "key_fingerprint", "load_verifier"]

HASHES = {
    "sha256": ("SHA2_256", hashes.SHA256(), 32),
    "sha384": ("SHA2_384", hashes.SHA384(), 48),
    "sha512": ("SHA2_512", hashes.SHA512(), 64),
}
_CURVES = {
    "secp256r1": ("PKIX_ECDSA_P256_SHA_256", "sha256"),
    "secp384r1": ("PKIX_ECDSA_P384_SHA_384", "sha384"),
    "secp521r1": ("PKIX_ECDSA_P521_SHA_512", "sha512"),
}


@dataclass(frozen=True)
class Verifier:
    """A public key (or the key of a certificate) with its Rekor ``keyDetails``."""

    key: object
    der: bytes  # DER SubjectPublicKeyInfo, or the DER certificate
    is_certificate: bool
    key_details: str
    hash_name: str | None  # the digest the key details fix (None: Ed25519 signs the digest)

    @property
    def spki(self) -> bytes:
        return self.key.public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify_digest(self, signature: bytes, digest: bytes, hash_name: str, field: str) -> None:
        """Check ``signature`` over the artifact whose ``hash_name`` digest is ``digest``."""
        if self.hash_name and hash_name != self.hash_name:
            raise VerificationError(
                f"{field}: a {self.key_details} key signs {self.hash_name} digests, not {hash_name}"
            )
        algo = HASHES[hash_name][1]
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, digest)
            elif isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, digest, ec.ECDSA(utils.Prehashed(algo)))
            elif self.key_details.startswith("PKIX_RSA_PSS"):
                assert isinstance(self.key, rsa.RSAPublicKey)
                pss = padding.PSS(padding.MGF1(algo), padding.PSS.DIGEST_LENGTH)
                try:
                    self.key.verify(signature, digest, pss, utils.Prehashed(algo))
                except InvalidSignature:
                    auto = padding.PSS(padding.MGF1(algo), padding.PSS.AUTO)
                    self.key.verify(signature, digest, auto, utils.Prehashed(algo))
            else:
                assert isinstance(self.key, rsa.RSAPublicKey)
                self.key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(algo))
        except (InvalidSignature, ValueError) as e:
            raise VerificationError(f"{field}: does not verify with the given public key") from e


def key_fingerprint(spki_der: bytes) -> str:
    """``key:<sha256 hex of the DER SubjectPublicKeyInfo>``: how entries name a key."""
    return "key:" + hashlib.sha256(spki_der).hexdigest()


def _details(key: object, rsa_pss: bool) -> tuple[str, str | None]:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519", None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise MalformedError(f"unsupported curve {key.curve.name}", field="public_key")
        return _CURVES[key.curve.name]
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048 or key.key_size not in (2048, 3072, 4096):
            raise MalformedError(
                f"RSA keys must be 2048, 3072 or 4096 bits, got {key.key_size}", field="public_key"
            )
        kind = "PSS" if rsa_pss else "PKCS1V15"
        return f"PKIX_RSA_{kind}_{key.key_size}_SHA256", "sha256"
    raise MalformedError("unsupported key type (Ed25519, ECDSA or RSA)", field="public_key")


def load_verifier(
    data: bytes, field: str, *, certificate: bool = False, rsa_pss: bool = False
) -> Verifier:
    """A verifier from a PEM or DER public key, or (``certificate``) an X.509 certificate."""
    return _load_cached(bytes(data), field, certificate, rsa_pss)


@lru_cache(maxsize=4096)
def _load_cached(data: bytes, field: str, certificate: bool, rsa_pss: bool) -> Verifier:
    # Submitters reuse a handful of keys; parsing them once per process is most of the cost.
    try:
        if certificate or b"BEGIN CERTIFICATE" in data:
            cert = (
                x509.load_pem_x509_certificate(data)
                if b"-----BEGIN" in data
                else x509.load_der_x509_certificate(data)
            )
            key = cert.public_key()
            der, is_cert = cert.public_bytes(serialization.Encoding.DER), True
        else:
            key = (
                serialization.load_pem_public_key(data)
                if b"-----BEGIN" in data
                else serialization.load_der_public_key(data)
            )
            der = key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            is_cert = False
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise MalformedError(
            f"not a PEM or DER {'certificate' if certificate else 'public key'}", field=field
        ) from e
    details, hash_name = _details(key, rsa_pss)
    return Verifier(key, der, is_cert, details, hash_name)
