"""X.509 identities (issue 20 item 5 and 6): a log with `[[trust.x509]]` roots admits only
certificates that chain to them, valid now and for code signing, and says why it refused the
others; the certificate's identity (SAN email) and Fulcio-style OIDC issuer are searchable and
watchable. A log without roots keeps admitting any certificate's key, as before."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from sigstore_pki import root_ca

from tlog.entries.x509 import FULCIO_ISSUER

BIN = Path(sys.executable).parent
ISSUER = "https://token.actions.githubusercontent.com"


def tlog(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _leaf(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], email: str, *,
          expired: bool = False, usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CODE_SIGNING,
          ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=10 if expired else 0, minutes=5)
    issuer_value = ISSUER.encode()
    cert = (x509.CertificateBuilder().subject_name(x509.Name([]))
            .issuer_name(ca[1].subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(minutes=10))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca[0].public_key()), critical=False)
            .add_extension(x509.UnrecognizedExtension(
                FULCIO_ISSUER, b"\x0c" + bytes([len(issuer_value)]) + issuer_value),
                critical=False)
            .sign(ca[0], hashes.SHA256()))
    return key, cert


CASES = {  # name -> (signer email, how the certificate is wrong, or None)
    "good": ("alice@example.com", None),
    "expired": ("bob@example.com", "expired"),
    "other root": ("carol@example.com", "other root"),
    "server cert": ("dave@example.com", "server"),
}


def _log(tmp: Path, roots: bool) -> Path:
    root, other = root_ca("Test Fulcio"), root_ca("Someone else")
    (tmp / "ca.pem").write_bytes(root[1].public_bytes(serialization.Encoding.PEM))
    (tmp / "artifact.tgz").write_bytes(b"release\n")
    assert tlog(tmp, "keygen", "x509.example/log", "--out", "log").returncode == 0
    assert tlog(tmp, "init", "--store", "public", "--origin", "x509.example/log",
                "--key", "log.key").returncode == 0
    if roots:
        with open(tmp / "tlog.toml", "a") as f:
            f.write('\n[[trust.x509]]\nroots = "ca.pem"\n')
    for name, (email, wrong) in CASES.items():
        key, cert = _leaf(other if wrong == "other root" else root, email,
                          expired=wrong == "expired",
                          usage=ExtendedKeyUsageOID.SERVER_AUTH if wrong == "server"
                          else ExtendedKeyUsageOID.CODE_SIGNING)
        stem = name.replace(" ", "-")
        (tmp / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        sig = key.sign(b"release\n", ec.ECDSA(hashes.SHA256()))
        (tmp / f"{stem}.sig").write_bytes(base64.b64encode(sig))
        res = tlog(tmp, "submit", "--queue", "public-queue", "--artifact", "artifact.tgz",
                   "--signature", f"{stem}.sig", "--certificate", f"{stem}.crt")
        assert res.returncode == 0, res.stderr
    return tmp


def test_a_log_with_roots_admits_only_what_chains_and_says_why(tmp_path: Path) -> None:
    work = _log(tmp_path, roots=True)
    res = tlog(work, "sequence", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.splitlines()[-1])
    assert (summary["admitted"], summary["rejected"]) == (1, 3)
    reasons = [json.loads(p.read_text())["reason"]
               for p in sorted((work / "public-queue" / "rejected").glob("*.json"))]
    assert len(reasons) == 3
    assert all("certificate: does not chain to this log's X.509 roots" in r for r in reasons)
    said = " | ".join(reasons)
    assert "it is not for code signing (its extended key usage: serverAuth)" in said
    assert "it expired at " in said
    assert ("it was issued by CN=Someone else,O=tiledlog tests, which is not one of this log's "
            "roots") in said

    vkey = (work / "log.pub").read_text().strip()
    found = tlog(work, "search", "--log", "public", "--vkey", vkey, "--identity",
                 "alice@example.com", "--json")
    assert found.returncode == 0, found.stderr
    assert len(json.loads(found.stdout)["matches"]) == 1
    by_issuer = tlog(work, "search", "--log", "public", "--vkey", vkey, "--issuer", ISSUER,
                     "--json")
    assert len(json.loads(by_issuer.stdout)["matches"]) == 1
    missing = tlog(work, "search", "--log", "public", "--vkey", vkey, "--identity",
                   "bob@example.com", "--json")
    assert json.loads(missing.stdout)["matches"] == []


def test_monitor_watches_identities_and_issuers(tmp_path: Path) -> None:
    work = _log(tmp_path, roots=True)
    assert tlog(work, "sequence").returncode == 0
    vkey = (work / "log.pub").read_text().strip()

    def watch(*args: str) -> subprocess.CompletedProcess[str]:
        state = f"mon-{abs(hash(args))}"
        return tlog(work, "monitor", "--log", "public", "--vkey", vkey, "--state", state,
                    "--json", *args)

    hit = watch("--watch-identity", r".*@example\.com", "--watch-issuer", ISSUER)
    assert hit.returncode == 4, hit.stderr
    (event,) = [json.loads(line) for line in hit.stdout.splitlines()]
    assert event["matched"] == ["identity:alice@example.com", f"issuer:{ISSUER}"]
    assert watch("--watch-identity", r"mallory@.*").returncode == 0
    assert watch("--watch-identity", r".*@example\.com", "--watch-issuer",
                 "https://accounts.google.com").returncode == 0
    bad = watch("--watch-identity", "(")
    assert bad.returncode == 2 and "--watch-identity: not a regular expression" in bad.stderr


def test_a_log_without_roots_keeps_todays_behaviour(tmp_path: Path) -> None:
    work = _log(tmp_path, roots=False)
    res = tlog(work, "sequence", "--json")
    assert json.loads(res.stdout.splitlines()[-1])["admitted"] == len(CASES)


@pytest.mark.parametrize("bad", ['[[trust.x509]]\nroot = "ca.pem"\n',
                                 '[[trust.x509]]\nroots = "missing.pem"\n'])
def test_trust_roots_config_errors_name_the_key(tmp_path: Path, bad: str) -> None:
    assert tlog(tmp_path, "keygen", "x509.example/log", "--out", "log").returncode == 0
    assert tlog(tmp_path, "init", "--store", "public", "--origin", "x509.example/log",
                "--key", "log.key").returncode == 0
    with open(tmp_path / "tlog.toml", "a") as f:
        f.write("\n" + bad)
    res = tlog(tmp_path, "sequence")
    assert res.returncode == 2 and "trust.x509" in res.stderr and "Traceback" not in res.stderr
