"""A private Sigstore for tests: a Fulcio-like CA whose certificates carry an embedded SCT from a
test CT log key (as Fulcio's do), and OpenSSL's ``ts`` as an RFC 3161 timestamp authority on
loopback. Real parts: the SCT is the RFC 6962 structure, signed over the precertificate; the TSA
is the openssl binary answering real requests over HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlog.entries.x509 import FULCIO_ISSUER

ISSUER = "https://token.actions.githubusercontent.com"
OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # raw bytes, as Fulcio writes it
SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tiledlog tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def root_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
            .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _der_octet_string(data: bytes) -> bytes:
    n = len(data)
    length = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + \
        n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x04" + length + data


def _sct(ct_key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate, tbs: bytes) -> bytes:
    """One RFC 6962 SignedCertificateTimestamp for a precertificate, TLS-encoded."""
    spki = ct_key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    issuer_spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    signed = (struct.pack("!BBQH", 0, 0, ms, 1) + hashlib.sha256(issuer_spki).digest()
              + len(tbs).to_bytes(3, "big") + tbs + struct.pack("!H", 0))
    sig = ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    return (bytes([0]) + hashlib.sha256(spki).digest() + struct.pack("!QH", ms, 0)
            + bytes([4, 3]) + struct.pack("!H", len(sig)) + sig)


@dataclass
class PrivateSigstore:
    """The CA, the CT log key and the TSA's chain, written as files the CLI takes."""

    folder: Path
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
    ct_key: ec.EllipticCurvePrivateKey
    tsa: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
    tsa_root: x509.Certificate

    @classmethod
    def create(cls, folder: Path) -> PrivateSigstore:
        folder.mkdir(parents=True, exist_ok=True)
        ca = root_ca("Test Fulcio")
        tsa_root_key, tsa_root = root_ca("Test TSA root")
        tsa_key = ec.generate_private_key(ec.SECP256R1())
        tsa_cert = (x509.CertificateBuilder().subject_name(_name("Test TSA"))
                    .issuer_name(tsa_root.subject).public_key(tsa_key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
                    .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=365))
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                                   critical=True)
                    .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                                 False, False), critical=True)
                    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                        tsa_root_key.public_key()), critical=False)
                    .sign(tsa_root_key, hashes.SHA256()))
        self = cls(folder, ca, ec.generate_private_key(ec.SECP256R1()), (tsa_key, tsa_cert),
                   tsa_root)
        pem = serialization.Encoding.PEM
        (folder / "ca.pem").write_bytes(ca[1].public_bytes(pem))
        (folder / "ctfe.pub").write_bytes(self.ct_key.public_key().public_bytes(
            pem, serialization.PublicFormat.SubjectPublicKeyInfo))
        (folder / "tsa-chain.pem").write_bytes(tsa_cert.public_bytes(pem)
                                               + tsa_root.public_bytes(pem))
        (folder / "tsa.crt").write_bytes(tsa_cert.public_bytes(pem))
        (folder / "tsa.key").write_bytes(tsa_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (folder / "tsa-serial").write_text("01\n")
        (folder / "tsa.cnf").write_text(_TSA_CONFIG.format(folder=folder))
        return self

    def leaf(self, email: str, *, sct: bool = True, minutes: int = 10,
             ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A Fulcio-style signing certificate: SAN email, OIDC issuer, code signing, and an
        embedded SCT from the test CT log over its precertificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        issuer_value = ISSUER.encode()
        b = (x509.CertificateBuilder().subject_name(x509.Name([]))
             .issuer_name(self.ca[1].subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
             .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes))
             .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                          False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),
                            critical=False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 self.ca[0].public_key()), critical=False)
             .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]),
                            critical=True)
             .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V1, issuer_value),
                            critical=False)
             .add_extension(x509.UnrecognizedExtension(
                 FULCIO_ISSUER, b"\x0c" + bytes([len(issuer_value)]) + issuer_value),
                 critical=False))
        if not sct:
            return key, b.sign(self.ca[0], hashes.SHA256())
        tbs = b.sign(self.ca[0], hashes.SHA256()).tbs_certificate_bytes
        one = _sct(self.ct_key, self.ca[1], tbs)
        listed = struct.pack("!H", len(one) + 2) + struct.pack("!H", len(one)) + one
        cert = b.add_extension(x509.UnrecognizedExtension(SCT_LIST, _der_octet_string(listed)),
                               critical=False).sign(self.ca[0], hashes.SHA256())
        assert cert.tbs_precertificate_bytes == tbs  # the SCT signs what verifiers rebuild
        return key, cert


_TSA_CONFIG = """
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {folder}
serial = {folder}/tsa-serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.57264.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


class OpenSSLTimestampAuthority:
    """``openssl ts -reply`` behind an HTTP server on 127.0.0.1 (RFC 3161 over HTTP)."""

    def __init__(self, pki: PrivateSigstore) -> None:
        self.pki = pki
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests += 1
                body = outer.reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/timestamp"

    def reply(self, query: bytes) -> bytes:
        f = self.pki.folder
        with tempfile.TemporaryDirectory() as tmp:
            q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
            q.write_bytes(query)
            subprocess.run(["openssl", "ts", "-reply", "-config", str(f / "tsa.cnf"),
                            "-queryfile", str(q), "-inkey", str(f / "tsa.key"),
                            "-signer", str(f / "tsa.crt"), "-out", str(r)],
                           check=True, capture_output=True, timeout=30)
            return r.read_bytes()

    def __enter__(self) -> OpenSSLTimestampAuthority:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
