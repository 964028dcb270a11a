"""Ed25519ph (RFC 8032 §5.1) over a SHA-512 digest: RFC 8032 §7.3's vector, libsodium's own
Ed25519ph (which hashes the message itself) as an independent signer and verifier, and the
libsodium path and the pure-Python path agreeing on every hostile case (issue 18 item 14)."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl import bindings as sodium

from tlog.entries import ed25519ph
from tlog.entries.ed25519ph import sign_ed25519ph, verify_ed25519ph

# RFC 8032 §7.3, "TEST abc"
SEED = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
PUBLIC = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
SIGNATURE = bytes.fromhex(
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406")
DIGEST = hashlib.sha512(b"abc").digest()
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493


def _pure(pk: bytes, sig: bytes, digest: bytes, monkeypatch: pytest.MonkeyPatch) -> bool:
    with monkeypatch.context() as m:
        m.setattr(ed25519ph, "_sodium_check", lambda *a: None)
        return verify_ed25519ph(pk, sig, digest)


def test_rfc8032_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw() == PUBLIC
    assert sign_ed25519ph(SEED, DIGEST) == SIGNATURE
    assert verify_ed25519ph(PUBLIC, SIGNATURE, DIGEST)
    assert _pure(PUBLIC, SIGNATURE, DIGEST, monkeypatch)
    assert ed25519ph._sodium_check(  # the fast path really computed it
        PUBLIC, int.from_bytes(SIGNATURE[32:], "little"),
        int.from_bytes(hashlib.sha512(ed25519ph._DOM2 + SIGNATURE[:32] + PUBLIC + DIGEST)
                       .digest(), "little") % _L, SIGNATURE[:32]) is True


def test_libsodium_signs_what_we_verify_and_we_sign_what_it_verifies() -> None:
    for _ in range(20):
        seed, message = os.urandom(32), os.urandom(100)
        public, secret = sodium.crypto_sign_seed_keypair(seed)
        state = sodium.crypto_sign_ed25519ph_state()
        sodium.crypto_sign_ed25519ph_update(state, message)
        theirs = sodium.crypto_sign_ed25519ph_final_create(state, secret)
        ours = sign_ed25519ph(seed, hashlib.sha512(message).digest())
        assert ours == theirs  # deterministic: the same bytes
        assert verify_ed25519ph(public, theirs, hashlib.sha512(message).digest())
        state = sodium.crypto_sign_ed25519ph_state()
        sodium.crypto_sign_ed25519ph_update(state, message)
        assert sodium.crypto_sign_ed25519ph_final_verify(state, ours, public)


def _hostile() -> list[tuple[str, bytes, bytes]]:
    cases = []
    identity = (1).to_bytes(32, "little")
    order2 = (_P - 1).to_bytes(32, "little")
    negative_zero = (1 | 1 << 255).to_bytes(32, "little")
    non_canonical = (_P + 1).to_bytes(32, "little")  # y = 1 + p: the identity, spelt long
    s_plus_l = SIGNATURE[:32] + (int.from_bytes(SIGNATURE[32:], "little") + _L).to_bytes(
        32, "little")
    cases += [("S + L", PUBLIC, s_plus_l)]
    for name, key in (("identity key", identity), ("order-2 key", order2),
                      ("negative zero key", negative_zero), ("non-canonical key", non_canonical)):
        # R = identity, S = 0 verifies under a small-order key in a cofactorless check
        cases += [(name, key, identity + bytes(32)), (name + ", vector sig", key, SIGNATURE)]
    return cases


@pytest.mark.parametrize(("name", "key", "sig"), _hostile(),
                         ids=[c[0] for c in _hostile()])
def test_both_paths_agree(monkeypatch: pytest.MonkeyPatch, name: str, key: bytes,
                          sig: bytes) -> None:
    assert verify_ed25519ph(key, sig, DIGEST) == _pure(key, sig, DIGEST, monkeypatch)
    if name == "S + L":
        assert not verify_ed25519ph(key, sig, DIGEST)


def test_every_flipped_bit_fails_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(512):
        sig = bytearray(SIGNATURE)
        sig[i // 8] ^= 1 << (i % 8)
        assert not verify_ed25519ph(PUBLIC, bytes(sig), DIGEST), i
        assert not _pure(PUBLIC, bytes(sig), DIGEST, monkeypatch), i
