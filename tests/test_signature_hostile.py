"""The `signature` entry type against submitters and entries that lie (found in review): a
digest the signature does not cover, a key number copied from another's key, a secret key
given as the public one, fields a logged entry adds that the signature does not say, a
malformed SSH blob, a certificate where a pure Ed25519 key is expected, and raw RSA signatures
taken for OpenPGP packets. Documents are made here byte for byte as the tools make them
(`submissions.format_signature_docs`); the real tools are in test_signature_formats.py."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from submissions import format_signature_docs

from tlog.client.admission import check_entries
from tlog.entries import admit, canonical_json, verify_entry
from tlog.entries.signature import detect_format, key_queries_of
from tlog.errors import MalformedError, TlogError, VerificationError


def _doc(fmt: str, seed: int = 0) -> dict:
    return json.loads(format_signature_docs(fmt, 1, seed=seed)[0])


def test_a_digest_the_signature_does_not_cover_is_refused_without_the_artifact() -> None:
    for fmt, signed in (("ssh", "sha512"), ("minisign", "blake2b512")):
        doc = _doc(fmt)
        del doc["artifact"]  # the digests alone, as for an artifact too large to carry
        assert set(doc["digests"]) == {"sha256", signed}
        doc["digests"]["sha256"] = hashlib.sha256(b"another artifact").hexdigest()
        with pytest.raises(MalformedError, match=f"signature.digests.sha256: cannot be checked "
                                                 f"without the artifact.*only the {signed}"):
            admit(json.dumps(doc).encode())
        # With only the digest it covers: logged, and searchable by that digest alone.
        del doc["digests"]["sha256"]
        keys = admit(json.dumps(doc).encode()).search_keys
        assert f"{signed}:{doc['digests'][signed]}" in keys
        assert not any(k.startswith("sha256:") for k in keys)


def test_a_copied_key_number_is_not_the_key() -> None:
    """minisign and signify key numbers are the key maker's choice: search by the key file
    finds what the key itself signed, never a forger's key carrying the same number."""
    for fmt in ("minisign", "signify"):
        alice = _doc(fmt, seed=1)
        forged = _doc(fmt, seed=2)
        a_pub = base64.b64decode(alice["public_key"])
        f_pub = base64.b64decode(forged["public_key"])
        number = base64.b64decode(a_pub.split(b"\n")[1])[2:10]
        # the forger's key and signature, renumbered as Alice's
        raw = base64.b64decode(f_pub.split(b"\n")[1])
        f_pub2 = f_pub.split(b"\n")[0] + b"\n" + base64.b64encode(raw[:2] + number + raw[10:])
        sig_lines = base64.b64decode(forged["signature"]).split(b"\n")
        sraw = base64.b64decode(sig_lines[1])
        sig_lines[1] = base64.b64encode(sraw[:2] + number + sraw[10:])
        forged["public_key"] = base64.b64encode(f_pub2 + b"\n").decode()
        forged["signature"] = base64.b64encode(b"\n".join(sig_lines)).decode()
        got = admit(json.dumps(forged).encode()).search_keys
        assert key_queries_of(a_pub)[0] not in got  # Alice's key: not this entry
        assert key_queries_of(f_pub2 + b"\n")[0] in got


def test_a_secret_openpgp_key_is_never_published() -> None:
    pysequoia = pytest.importorskip("pysequoia")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cert = pysequoia.Cert.generate("Alice <alice@example.com>")
        secret = bytes(cert.secrets)
        signed = pysequoia.sign(cert.secrets.signer(), b"artifact",
                                mode=pysequoia.SignatureMode.DETACHED)
    doc = {"type": "signature", "format": "openpgp",
           "signature": base64.b64encode(signed).decode(),
           "public_key": base64.b64encode(secret).decode(),
           "digests": {"sha256": hashlib.sha256(b"artifact").hexdigest()},
           "artifact": base64.b64encode(b"artifact").decode()}
    with pytest.raises(MalformedError, match="public_key: holds a secret key"):
        admit(json.dumps(doc).encode())


def test_logged_fields_the_signature_does_not_say_are_misbehaviour() -> None:
    entry = admit(format_signature_docs("minisign", 1)[0]).entry
    verify_entry(entry)
    for change in ({"trustedComment": "FORGED"}, {"namespace": "git"}):
        body = json.loads(entry)
        body["spec"].update(change)
        with pytest.raises(TlogError):
            verify_entry(canonical_json(body))


def test_a_malformed_ssh_blob_is_malformed_not_unknown() -> None:
    entry = admit(format_signature_docs("ssh", 1)[0]).entry
    body = json.loads(entry)
    armored = base64.b64decode(body["spec"]["signature"]).decode()
    lines = armored.strip().split("\n")
    blob = base64.b64decode("".join(lines[1:-1]))
    blob = blob.replace(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x40",
                        b"\x00\x00\x00\x0bssh-ed25518\x00\x00\x00\x40")
    b64 = base64.b64encode(blob).decode()
    bad = "\n".join([lines[0], *(b64[i:i + 76] for i in range(0, len(b64), 76)), lines[-1]])
    body["spec"]["signature"] = base64.b64encode((bad + "\n").encode()).decode()
    status, reason, _ = check_entries([canonical_json(body)])[0]
    assert status == "malformed", reason


def test_a_certificate_is_no_pure_ed25519_key() -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, None))
    doc = {"type": "signature", "format": "ed25519",
           "signature": base64.b64encode(key.sign(b"artifact")).decode(),
           "public_key": base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode(),
           "digests": {"sha256": hashlib.sha256(b"artifact").hexdigest()},
           "artifact": base64.b64encode(b"artifact").decode()}
    with pytest.raises((MalformedError, VerificationError)):
        admit(json.dumps(doc).encode())


def test_raw_rsa_signatures_are_not_taken_for_openpgp() -> None:
    key = rsa.generate_private_key(65537, 2048)
    seen = 0
    for i in range(400):
        sig = key.sign(b"artifact %d" % i, padding.PKCS1v15(), hashes.SHA256())
        if sig[0] in (0x88, 0x89, 0x8A, 0x8B, 0xC2):
            seen += 1
            assert detect_format(sig) is None
    assert seen  # some did start like an OpenPGP signature packet
