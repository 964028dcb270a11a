"""Signers for every key algorithm the entry types accept, built the way submitters sign.

Each ``Signer`` signs an artifact for hashedrekord (as cosign/openssl would: ECDSA and RSA
hash the artifact themselves; pure Ed25519 signs the digest bytes; Ed25519ph the SHA-512
prehash) and a message for DSSE/in-toto. Keys come from fixed seeds where the library
allows it, so failures are reproducible.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

_HASH = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


@dataclass(frozen=True)
class Signer:
    """One key: ``algo`` names the case, ``digest`` the hash the artifact digest uses and
    ``details`` the Rekor PublicKeyDetails the entry must record."""

    algo: str
    key: object
    digest: str
    details: str
    certificate: bool = False

    def pem(self) -> str:
        if self.certificate:
            return _certificate(self.key).public_bytes(serialization.Encoding.PEM).decode()
        return self.key.public_key().public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign_artifact(self, artifact: bytes) -> bytes:
        k: object = self.key
        if self.algo == "ed25519":
            return k.sign(hashlib.sha256(artifact).digest())  # type: ignore[attr-defined]
        if self.algo == "ed25519ph":
            return _sodium_ed25519ph(k.private_bytes_raw(), artifact)  # type: ignore[attr-defined]
        return self.sign(artifact, _HASH[self.digest])

    def sign(self, message: bytes, h: hashes.HashAlgorithm | None = None) -> bytes:
        """A signature over a message (DSSE PAE, in-toto canonical bytes)."""
        k: object = self.key
        h = h or _HASH[self.digest]
        if isinstance(k, ed25519.Ed25519PrivateKey):
            return k.sign(message)
        if isinstance(k, ec.EllipticCurvePrivateKey):
            return k.sign(message, ec.ECDSA(h))
        if "PSS" in self.details:
            return k.sign(  # type: ignore[attr-defined]
                message, padding.PSS(padding.MGF1(h), padding.PSS.DIGEST_LENGTH), h)
        return k.sign(message, padding.PKCS1v15(), h)  # type: ignore[attr-defined]

    def artifact_digest(self, artifact: bytes) -> str:
        return f"{self.digest}:{hashlib.new(self.digest, artifact).hexdigest()}"


def _sodium_ed25519ph(seed: bytes, artifact: bytes) -> bytes:
    """Ed25519ph by libsodium (as a submitter would sign, hashing the artifact itself): an
    independent signer for the log's own verifier, and fast enough for benchmarks."""
    from nacl import bindings

    _, secret = bindings.crypto_sign_seed_keypair(seed)
    state = bindings.crypto_sign_ed25519ph_state()
    bindings.crypto_sign_ed25519ph_update(state, artifact)
    return bindings.crypto_sign_ed25519ph_final_create(state, secret)


def _ed(seed: int) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"ed %d" % seed).digest())


def _ec(curve: ec.EllipticCurve, seed: int) -> ec.EllipticCurvePrivateKey:
    n = int.from_bytes(hashlib.sha512(b"ec %d" % seed).digest(), "big") % (2**250) + 1
    return ec.derive_private_key(n, curve)


@cache
def _rsa(bits: int, seed: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)  # slow-ish: cached per (bits, seed)


@cache
def _certificate(key: object) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "release signer")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )


def signer(algo: str, seed: int = 0) -> Signer:
    """The signer for one algorithm case (see ``ALGOS``)."""
    if algo == "ed25519":
        return Signer(algo, _ed(seed), "sha256", "PKIX_ED25519")
    if algo == "ed25519ph":
        return Signer(algo, _ed(seed), "sha512", "PKIX_ED25519_PH")
    if algo == "ecdsa-p256":
        return Signer(algo, _ec(ec.SECP256R1(), seed), "sha256", "PKIX_ECDSA_P256_SHA_256")
    if algo == "ecdsa-p384":
        return Signer(algo, _ec(ec.SECP384R1(), seed), "sha384", "PKIX_ECDSA_P384_SHA_384")
    if algo == "ecdsa-p521":
        return Signer(algo, _ec(ec.SECP521R1(), seed), "sha512", "PKIX_ECDSA_P521_SHA_512")
    if algo == "rsa-pkcs1":
        return Signer(algo, _rsa(2048, seed), "sha256", "PKIX_RSA_PKCS1V15_2048_SHA256")
    if algo == "rsa-pss":
        return Signer(algo, _rsa(2048, seed), "sha256", "PKIX_RSA_PSS_2048_SHA256")
    if algo == "rsa3072-pss":
        return Signer(algo, _rsa(3072, seed), "sha256", "PKIX_RSA_PSS_3072_SHA256")
    if algo == "x509-p256":
        return Signer(algo, _ec(ec.SECP256R1(), seed + 100), "sha256",
                      "PKIX_ECDSA_P256_SHA_256", certificate=True)
    raise ValueError(algo)


ALGOS = ("ed25519", "ed25519ph", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-pkcs1",
         "rsa-pss", "rsa3072-pss", "x509-p256")
# Message signers (DSSE, in-toto): Ed25519ph does not apply to messages.
MESSAGE_ALGOS = tuple(a for a in ALGOS if a != "ed25519ph")
