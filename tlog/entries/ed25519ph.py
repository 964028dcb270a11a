"""Ed25519ph (RFC 8032 §5.1, prehashed, empty context) over a SHA-512 digest.

Rekor v2 logs Ed25519 hashedrekord entries as ``PKIX_ED25519_PH``: the signature is Ed25519ph
over the artifact, which only needs the artifact's SHA-512 digest, so a log that never sees
the artifact can check it. ``cryptography`` has no Ed25519ph, and libsodium's Ed25519ph API
hashes the message itself (a log holds only the digest), so the check is written out here:
its two scalar multiplications run in libsodium (PyNaCl's ``crypto_scalarmult_ed25519_*``,
about 0.1 ms), with the same arithmetic in pure Python (about 8 ms) for the rare inputs
libsodium refuses to multiply (small-order points, zero scalars) and where PyNaCl is absent.
Either way the verdict is the same exact group equation, so it does not depend on the path.

    >>> seed = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
    >>> sig = sign_ed25519ph(seed, hashlib.sha512(b"abc").digest())
    >>> sig.hex()[:16]      # RFC 8032 §7.3, test "abc"
    '98a70222f0b8121a'
"""

from __future__ import annotations

import hashlib

__all__ = ["sign_ed25519ph", "verify_ed25519ph"]

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
# dom2(phflag=1, context=""): what separates Ed25519ph from pure Ed25519.
_DOM2 = b"SigEd25519 no Ed25519 collisions\x01\x00"

_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z


def _add(p: _Point, q: _Point) -> _Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _mul(s: int, p: _Point) -> _Point:
    q: _Point = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _decode(s: bytes) -> _Point | None:
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


def _encode(p: _Point) -> bytes:
    zinv = pow(p[2], _P - 2, _P)
    x, y = p[0] * zinv % _P, p[1] * zinv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_G = _decode((4 * pow(5, _P - 2, _P) % _P).to_bytes(32, "little"))
assert _G is not None  # the base point is a constant; this cannot fail


def _h(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def verify_ed25519ph(public_key: bytes, signature: bytes, digest: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519ph signature of the message whose SHA-512 is
    ``digest``, under the raw 32-byte ``public_key`` (cofactorless check, as Go's)."""
    if len(public_key) != 32 or len(signature) != 64 or len(digest) != 64:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = _h(_DOM2, signature[:32], public_key, digest) % _L
    fast = _sodium_check(public_key, s, k, signature[:32])
    if fast is not None:
        return fast
    a = _decode(public_key)
    if a is None:
        return False
    neg_a = (_P - a[0], a[1], a[2], _P - a[3])
    return _encode(_add(_mul(s, _G), _mul(k, neg_a))) == signature[:32]


def _sodium_check(public_key: bytes, s: int, k: int, r: bytes) -> bool | None:
    """encode([s]B - [k]A) == R, computed by libsodium; None where it will not compute it.
    libsodium multiplies only a canonical point on the curve of more than small order, and
    each such point also decodes in the pure path (which alone meets the small-order ones,
    the negative zero among them), so where both compute, both say the same."""
    try:
        from nacl import bindings as sodium
        from nacl.exceptions import CryptoError
    except ImportError:
        return None
    try:
        sb = sodium.crypto_scalarmult_ed25519_base_noclamp(s.to_bytes(32, "little"))
        ka = sodium.crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), public_key)
        return bool(sodium.crypto_core_ed25519_sub(sb, ka) == r)
    except (CryptoError, ValueError, TypeError):
        return None


def _expand(seed: bytes) -> tuple[int, bytes]:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a = (a & ((1 << 254) - 8)) | (1 << 254)
    return a, h[32:]


def sign_ed25519ph(seed: bytes, digest: bytes) -> bytes:
    """Ed25519ph signature with a 32-byte seed over a message's SHA-512 ``digest`` (for tests
    and submitters without another Ed25519ph signer)."""
    a, prefix = _expand(seed)
    public = _encode(_mul(a, _G))
    r = _h(_DOM2, prefix, digest) % _L
    big_r = _encode(_mul(r, _G))
    k = _h(_DOM2, big_r, public, digest) % _L
    return big_r + ((r + k * a) % _L).to_bytes(32, "little")
