"""Admission's Ed25519 check gives OpenSSL's verdict, whichever library computes it.

libsodium refuses small-order and non-canonical points that OpenSSL accepts; those cases are
built here by hand (the identity point signs every message with R = identity, S = 0), next to
valid signatures, every one-bit corruption of one, and a non-canonical S.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519 as openssl
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog import ed25519 as fast
from tlog.entries import admit
from tlog.errors import VerificationError

L = 2**252 + 27742317777372353535851937790883648493  # the group order
P = 2**255 - 19
IDENTITY = (1).to_bytes(32, "little")  # the point (0, 1), of order 1
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def _openssl(raw: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        openssl.Ed25519PublicKey.from_public_bytes(raw).verify(sig, msg)
        return True
    except InvalidSignature:
        return False


def _verify(raw: bytes, sig: bytes, msg: bytes) -> bool:
    return fast.verify(openssl.Ed25519PublicKey.from_public_bytes(raw), raw, sig, msg)


def _libsodium_alone(raw: bytes, sig: bytes, msg: bytes) -> bool:
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import CryptoError

    try:
        crypto_sign_open(sig + msg, raw)
        return True
    except CryptoError:
        return False


def _cases() -> list[tuple[str, bytes, bytes, bytes, bool]]:
    """(name, raw key, signature, message, OpenSSL's verdict)."""
    key = openssl.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"seed").digest())
    raw = key.public_key().public_bytes_raw()
    out = []
    for msg in (b"", hashlib.sha256(b"artifact").digest(), b"m" * 1000):
        out.append((f"valid over {len(msg)} bytes", raw, key.sign(msg), msg, True))
    msg = hashlib.sha256(b"artifact").digest()
    sig = key.sign(msg)
    for bit in range(512):
        bad = bytearray(sig)
        bad[bit // 8] ^= 1 << (bit % 8)
        out.append((f"signature bit {bit} flipped", raw, bytes(bad), msg, False))
    for bit in range(0, 256, 7):
        bad = bytearray(msg)
        bad[bit // 8] ^= 1 << (bit % 8)
        out.append((f"message bit {bit} flipped", raw, sig, bytes(bad), False))
    s = int.from_bytes(sig[32:], "little")
    out.append(("S + L (non-canonical S)", raw, sig[:32] + (s + L).to_bytes(32, "little"), msg,
                False))
    forged = IDENTITY + bytes(32)  # R = identity, S = 0
    out.append(("identity key: R = identity, S = 0", IDENTITY, forged, b"anything", True))
    out.append(("identity key non-canonically (y = p + 1)", (P + 1).to_bytes(32, "little"),
                forged, b"anything", True))
    out.append(("order-2 key (y = p - 1)", (P - 1).to_bytes(32, "little"), forged, b"x", False))
    out.append(("non-canonical R (y = p + 1)", IDENTITY,
                (P + 1).to_bytes(32, "little") + bytes(32), b"x", False))
    return out


CASES = _cases()


@pytest.mark.parametrize("libsodium", [True, False], ids=["libsodium", "openssl-only"])
def test_verdict_is_openssls(libsodium: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if libsodium and not fast.FAST:
        pytest.skip("PyNaCl is not installed")
    monkeypatch.setattr(fast, "FAST", libsodium)
    for name, raw, sig, msg, expected in CASES:
        assert _openssl(raw, sig, msg) is expected, name  # the cases are what they say
        assert _verify(raw, sig, msg) is expected, name


def test_libsodium_refuses_what_openssl_accepts() -> None:
    """The small-order cases do take the second opinion: libsodium alone would refuse them."""
    if not fast.FAST:
        pytest.skip("PyNaCl is not installed")
    accepted_by_openssl_only = [n for n, raw, sig, msg, ok in CASES
                                if ok and not _libsodium_alone(raw, sig, msg)]
    assert accepted_by_openssl_only == ["identity key: R = identity, S = 0",
                                        "identity key non-canonically (y = p + 1)"]
    # and nothing the other way round
    assert not [n for n, raw, sig, msg, ok in CASES if not ok and _libsodium_alone(raw, sig, msg)]


@pytest.mark.parametrize("libsodium", [True, False], ids=["libsodium", "openssl-only"])
def test_admission_of_a_small_order_key(libsodium: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through admission, as before this check existed: a hashedrekord by the identity key
    verifies (as OpenSSL says), and a corrupted signature by a real key does not."""
    if libsodium and not fast.FAST:
        pytest.skip("PyNaCl is not installed")
    monkeypatch.setattr(fast, "FAST", libsodium)
    pem = ("-----BEGIN PUBLIC KEY-----\n"
           + base64.b64encode(SPKI_PREFIX + IDENTITY).decode() + "\n-----END PUBLIC KEY-----\n")
    doc = {"type": "hashedrekord", "digest": "sha256:" + "ab" * 32,
           "signature": base64.b64encode(IDENTITY + bytes(32)).decode(), "public_key": pem}
    assert admit(json.dumps(doc).encode()).type == "hashedrekord"
    _, raw, sig, msg, _ = CASES[1]  # valid over a 32-byte digest
    pem = ("-----BEGIN PUBLIC KEY-----\n"
           + base64.b64encode(SPKI_PREFIX + raw).decode() + "\n-----END PUBLIC KEY-----\n")
    doc = {"type": "hashedrekord", "digest": "sha256:" + msg.hex(),
           "signature": base64.b64encode(sig[:-1] + bytes([sig[-1] ^ 1])).decode(),
           "public_key": pem}
    with pytest.raises(VerificationError, match="does not verify"):
        admit(json.dumps(doc).encode())
    doc["signature"] = base64.b64encode(sig).decode()
    assert admit(json.dumps(doc).encode()).type == "hashedrekord"


@given(seed=st.binary(min_size=32, max_size=32), msg=st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_signing_makes_openssls_bytes(seed: bytes, msg: bytes) -> None:
    """Signing by libsodium (``tlog.ed25519.signer``, for notes and cosignatures) makes the
    very signature OpenSSL makes: Ed25519 is deterministic, so what a witness cosigns does not
    depend on which library is installed."""
    ours = fast.signer(seed)(msg)
    assert ours == openssl.Ed25519PrivateKey.from_private_bytes(seed).sign(msg)
    assert _verify(openssl.Ed25519PrivateKey.from_private_bytes(seed).public_key()
                   .public_bytes_raw(), ours, msg)


def test_signing_without_libsodium_is_openssls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trimmed install without PyNaCl signs with OpenSSL (the same bytes)."""
    seed = hashlib.sha256(b"seed").digest()
    with_sodium = fast.signer(seed)(b"checkpoint")
    monkeypatch.setattr(fast, "FAST", False)
    assert fast.signer(seed)(b"checkpoint") == with_sodium
