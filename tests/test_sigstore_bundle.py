"""Sigstore bundles out (issue 19 items 1 and 2): a bundle `tlog bundle --format sigstore`
writes for a certificate-signed entry, with an RFC 3161 timestamp from OpenSSL's TSA on
loopback, verifies with sigstore-python (its public `Verifier` API and the `sigstore verify`
command) against the trusted root `tlog trusted-root` prints; tampered copies are refused."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sigstore.errors import VerificationError as SigstoreVerificationError
from sigstore.models import Bundle, InvalidBundle, TransparencyLogEntry, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from sigstore_models.bundle.v1 import Bundle as BundleModel

from tests.sigstore_pki import ISSUER, OpenSSLTimestampAuthority, PrivateSigstore
from tlog.entries.dsse import pae

BIN = Path(sys.executable).parent
HOST = "log.sigstore.test"
EMAIL = "release@example.com"
ARTIFACT = b"release 1.0 tarball\n"


def tlog(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def ok(cwd: Path, *args: str) -> str:
    res = tlog(cwd, *args)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A log named after its host, four signed entries, a private Sigstore and a TSA."""
    work = tmp_path_factory.mktemp("sigstore")
    pki = PrivateSigstore.create(work / "pki")
    ok(work, "keygen", HOST, "--out", "log")
    ok(work, "init", "--store", "public", "--origin", HOST, "--key", "log.key",
       "--public-url", f"https://{HOST}")
    (work / "artifact.tgz").write_bytes(ARTIFACT)
    signers: dict[str, Any] = {}

    # 0: an artifact signed with a Fulcio-style certificate (embedded SCT)
    key, cert = pki.leaf(EMAIL)
    (work / "leaf.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (work / "artifact.sig").write_bytes(
        base64.b64encode(key.sign(ARTIFACT, ec.ECDSA(hashes.SHA256()))))
    ok(work, "submit", "--queue", "public-queue", "--artifact", "artifact.tgz",
       "--signature", "artifact.sig", "--certificate", "leaf.crt")
    ok(work, "sequence")

    # 1: a DSSE envelope, logged the Rekor v2 way (a hashedrekord over its PAE)
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [
        {"name": "artifact.tgz", "digest": {"sha256": hashlib.sha256(ARTIFACT).hexdigest()}}],
        "predicateType": "https://slsa.dev/provenance/v1", "predicate": {}}).encode()
    ptype = "application/vnd.in-toto+json"
    sig = key.sign(pae(ptype, statement), ec.ECDSA(hashes.SHA256()))
    envelope = {"payload": base64.b64encode(statement).decode(), "payloadType": ptype,
                "signatures": [{"sig": base64.b64encode(sig).decode()}]}
    (work / "envelope.json").write_text(json.dumps(envelope))
    doc = {"type": "hashedrekord",
           "digest": "sha256:" + hashlib.sha256(pae(ptype, statement)).hexdigest(),
           "signature": base64.b64encode(sig).decode(),
           "certificate": cert.public_bytes(serialization.Encoding.PEM).decode()}
    (work / "dsse-submission.json").write_text(json.dumps(doc))
    ok(work, "submit", "--queue", "public-queue", "dsse-submission.json")
    ok(work, "sequence")

    # 2: an artifact signed with a bare ECDSA key
    bare = ec.generate_private_key(ec.SECP256R1())
    (work / "bare.pub").write_bytes(bare.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (work / "bare.sig").write_bytes(
        base64.b64encode(bare.sign(ARTIFACT, ec.ECDSA(hashes.SHA256()))))
    ok(work, "submit", "--queue", "public-queue", "--artifact", "artifact.tgz",
       "--signature", "bare.sig", "--public-key", "bare.pub")
    ok(work, "sequence")
    signers.update(cert=cert, key=key)

    p = pki.folder
    ok(work, "trusted-root", "--vkey", "log.pub", "--base-url", f"https://{HOST}",
       "--ca-chain", str(p / "ca.pem"), "--ctlog-key", str(p / "ctfe.pub"),
       "--tsa-chain", str(p / "tsa-chain.pem"), "-o", "trusted_root.json")
    ok(work, "trusted-root", "--vkey", "log.pub", "--base-url", f"https://{HOST}",
       "--ca-chain", str(p / "ca.pem"), "--ctlog-key", str(p / "ctfe.pub"),
       "--tsa-chain", str(p / "tsa-chain.pem"), "--client-trust-config",
       "--ca-url", "https://fulcio.sigstore.test", "-o", "trust_config.json")
    with OpenSSLTimestampAuthority(pki) as tsa:
        common = ("--log", "public", "--vkey", "log.pub", "--format", "sigstore")
        ok(work, "bundle", *common, "--index", "0", "--tsa", tsa.url, "-o", "cert.sigstore.json")
        ok(work, "bundle", *common, "--index", "1", "--tsa", tsa.url, "--dsse-envelope",
           "envelope.json", "-o", "dsse.sigstore.json")
        assert tsa.requests == 2
    ok(work, "bundle", *common, "--index", "2", "-o", "key.sigstore.json")
    return {"work": work, "pki": pki, **signers}


def _verifier(work: Path, root: str = "trusted_root.json") -> Verifier:
    return Verifier(trusted_root=TrustedRoot.from_file(str(work / root)))


POLICY = Identity(identity=EMAIL, issuer=ISSUER)


def test_a_certificate_bundle_verifies_with_sigstore_python(log: dict[str, Any]) -> None:
    work = log["work"]
    bundle = Bundle.from_json((work / "cert.sigstore.json").read_bytes())
    _verifier(work).verify_artifact(ARTIFACT, bundle, POLICY)
    with pytest.raises(SigstoreVerificationError):
        _verifier(work).verify_artifact(b"another artifact\n", bundle, POLICY)
    with pytest.raises(SigstoreVerificationError):
        _verifier(work).verify_artifact(ARTIFACT, bundle,
                                        Identity(identity="mallory@example.com", issuer=ISSUER))


def test_the_sigstore_command_verifies_it(log: dict[str, Any]) -> None:
    work = log["work"]
    res = subprocess.run(
        [str(BIN / "sigstore"), "--trust-config", "trust_config.json", "verify", "identity",
         "--bundle", "cert.sigstore.json", "--cert-identity", EMAIL, "--cert-oidc-issuer",
         ISSUER, "artifact.tgz"], cwd=work, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "OK: artifact.tgz" in res.stderr + res.stdout


def test_a_dsse_bundle_verifies_with_sigstore_python(log: dict[str, Any]) -> None:
    work = log["work"]
    bundle = Bundle.from_json((work / "dsse.sigstore.json").read_bytes())
    ptype, payload = _verifier(work).verify_dsse(bundle, POLICY)
    assert ptype == "application/vnd.in-toto+json"
    assert json.loads(payload)["subject"][0]["name"] == "artifact.tgz"


def test_a_public_key_bundle_parses_and_passes_the_log_entry_checks(log: dict[str, Any]) -> None:
    from sigstore._internal.trust import KeyringPurpose

    work = log["work"]
    inner = BundleModel.from_json((work / "key.sigstore.json").read_bytes())
    entry = TransparencyLogEntry(inner.verification_material.tlog_entries[0])
    root = TrustedRoot.from_file(str(work / "trusted_root.json"))
    entry._verify(root.rekor_keyring(KeyringPurpose.VERIFY))
    # sigstore-python verifies certificate bundles only: it says so for this one
    with pytest.raises(InvalidBundle, match="expected certificate"):
        Bundle.from_json((work / "key.sigstore.json").read_bytes())


def _tampered(doc: dict[str, Any], how: str) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    entry = doc["verificationMaterial"]["tlogEntries"][0]
    proof = entry["inclusionProof"]
    if how == "proof hash":
        h = bytearray(base64.b64decode(proof["hashes"][0]))
        h[0] ^= 1
        proof["hashes"][0] = base64.b64encode(bytes(h)).decode()
    elif how == "body":  # the logged digest changed; the signature and its timestamp kept
        body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
        body["spec"]["hashedRekordV002"]["data"]["digest"] = base64.b64encode(
            hashlib.sha256(b"another artifact\n").digest()).decode()
        entry["canonicalizedBody"] = base64.b64encode(
            json.dumps(body, separators=(",", ":"), sort_keys=True).encode()).decode()
    elif how == "checkpoint signature":
        text, _, sigs = proof["checkpoint"]["envelope"].partition("\n\n")
        name, b64 = sigs.split("\n")[0].removeprefix("\u2014 ").split(" ")
        raw = bytearray(base64.b64decode(b64))
        raw[-1] ^= 1
        proof["checkpoint"]["envelope"] = (f"{text}\n\n\u2014 {name} "
                                           f"{base64.b64encode(bytes(raw)).decode()}\n")
    return doc


REFUSALS = {"proof hash": "invalid log entry: inclusion proof",
             "body": "invalid log entry: inclusion proof",
             "checkpoint signature": "invalid log entry: checkpoint: invalid signature",
             "other log key": "invalid log entry: checkpoint: invalid signature"}


@pytest.mark.parametrize("how", list(REFUSALS))
def test_tampered_copies_are_refused(log: dict[str, Any], how: str, tmp_path: Path) -> None:
    work = log["work"]
    doc = json.loads((work / "cert.sigstore.json").read_text())
    root = "trusted_root.json"
    if how == "other log key":
        ok(tmp_path, "keygen", HOST, "--out", "other")
        p = log["pki"].folder
        ok(tmp_path, "trusted-root", "--vkey", "other.pub", "--base-url", f"https://{HOST}",
           "--ca-chain", str(p / "ca.pem"), "--ctlog-key", str(p / "ctfe.pub"),
           "--tsa-chain", str(p / "tsa-chain.pem"), "-o", str(tmp_path / "other_root.json"))
        root = str(tmp_path / "other_root.json")
    else:
        doc = _tampered(doc, how)
    bundle = Bundle.from_json(json.dumps(doc))
    with pytest.raises(SigstoreVerificationError, match=REFUSALS[how]):
        _verifier(work, root).verify_artifact(ARTIFACT, bundle, POLICY)


# ----- tlog verify --bundle reads Sigstore bundles of this log ---------------------------------


def test_tlog_verify_accepts_a_sigstore_bundle_of_this_log(log: dict[str, Any]) -> None:
    work = log["work"]
    for name in ("cert", "dsse", "key"):
        out = json.loads(ok(work, "verify", "--vkey", "log.pub", "--bundle",
                            f"{name}.sigstore.json", "--json"))
        assert (out["source"], out["verified"], out["type"]) == ("bundle", True, "hashedrekord")


@pytest.mark.parametrize("how", ["proof hash", "another signature", "another log"])
def test_tlog_verify_refuses_a_doctored_sigstore_bundle(log: dict[str, Any], how: str,
                                                         tmp_path: Path) -> None:
    work = log["work"]
    doc = json.loads((work / "cert.sigstore.json").read_text())
    vkey = "log.pub"
    if how == "proof hash":
        doc = _tampered(doc, how)
        said = "inclusion"
    elif how == "another signature":  # a valid signature of the artifact, not the logged one
        sig = log["key"].sign(ARTIFACT, ec.ECDSA(hashes.SHA256()))
        doc["messageSignature"]["signature"] = base64.b64encode(sig).decode()
        said = "not the logged signature"
    else:
        ok(tmp_path, "keygen", HOST, "--out", "other")
        vkey = str(tmp_path / "other.pub")
        said = "from another log"
    (tmp_path / "b.json").write_text(json.dumps(doc))
    res = tlog(work, "verify", "--vkey", vkey, "--bundle", str(tmp_path / "b.json"))
    assert res.returncode == 3, res.stderr
    assert said in res.stderr and "Traceback" not in res.stderr


# ----- bundles in: tlog submit --sigstore-bundle --------------------------------------------


def _second_log(tmp: Path) -> Path:
    ok(tmp, "keygen", "log2.sigstore.test", "--out", "log")
    ok(tmp, "init", "--store", "public", "--origin", "log2.sigstore.test", "--key", "log.key",
       "--public-url", "https://log2.sigstore.test")
    return tmp


@contextlib.contextmanager
def _sequencing(folder: Path) -> Iterator[None]:
    """`tlog sequence --watch` in ``folder`` while the block runs."""
    proc = subprocess.Popen([str(BIN / "tlog"), "sequence", "--watch", "--interval", "0.2"],
                            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _second_root(folder: Path, pki: PrivateSigstore) -> None:
    p = pki.folder
    ok(folder, "trusted-root", "--vkey", "log.pub", "--base-url", "https://log2.sigstore.test",
       "--ca-chain", str(p / "ca.pem"), "--ctlog-key", str(p / "ctfe.pub"),
       "--tsa-chain", str(p / "tsa-chain.pem"), "-o", "trusted_root.json")


def test_a_sigstore_bundle_is_logged_and_comes_back_with_this_logs_entry(
        log: dict[str, Any], tmp_path: Path) -> None:
    work, second = log["work"], _second_log(tmp_path)
    with _sequencing(second):
        for name in ("cert", "dsse"):
            out = json.loads(ok(second, "submit", "--queue", "public-queue", "--sigstore-bundle",
                                str(work / f"{name}.sigstore.json"), "--wait", "--log",
                                "public", "--vkey", "log.pub", "--bundle-out",
                                f"{name}.sigstore.json", "--json"))
            assert out[0]["index"] >= 0
    _second_root(second, log["pki"])
    verifier = _verifier(second)
    # the signer's timestamp came along: the certificate bundle verifies against this log
    verifier.verify_artifact(ARTIFACT, Bundle.from_json(
        (second / "cert.sigstore.json").read_bytes()), POLICY)
    verifier.verify_dsse(Bundle.from_json((second / "dsse.sigstore.json").read_bytes()), POLICY)
    # and it is this log's entry, not the first log's
    with pytest.raises(SigstoreVerificationError, match="invalid log entry"):
        _verifier(work).verify_artifact(ARTIFACT, Bundle.from_json(
            (second / "cert.sigstore.json").read_bytes()), POLICY)


def test_a_bundle_from_another_log_without_a_timestamp_gets_one(log: dict[str, Any],
                                                                tmp_path: Path) -> None:
    """As from Rekor's public instance: a v0.1 bundle whose entry is a Rekor v1 dsse entry
    (not this log's kind, and not read) and no RFC 3161 timestamp: --tsa adds one."""
    work, second = log["work"], _second_log(tmp_path)
    doc = json.loads((work / "cert.sigstore.json").read_text())
    doc["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1"
    doc["verificationMaterial"]["tlogEntries"][0]["kindVersion"] = {"kind": "dsse",
                                                                    "version": "0.0.1"}
    del doc["verificationMaterial"]["timestampVerificationData"]
    (tmp_path / "public-good.json").write_text(json.dumps(doc))
    with _sequencing(second), OpenSSLTimestampAuthority(log["pki"]) as tsa:
        ok(second, "submit", "--queue", "public-queue", "--sigstore-bundle",
           "public-good.json", "--wait", "--log", "public", "--vkey", "log.pub",
           "--bundle-out", "out.sigstore.json", "--tsa", tsa.url)
    _second_root(second, log["pki"])
    _verifier(second).verify_artifact(ARTIFACT, Bundle.from_json(
        (second / "out.sigstore.json").read_bytes()), POLICY)


def test_a_public_key_bundle_needs_the_key(log: dict[str, Any], tmp_path: Path) -> None:
    work, second = log["work"], _second_log(tmp_path)
    res = tlog(second, "submit", "--queue", "public-queue", "--sigstore-bundle",
               str(work / "key.sigstore.json"))
    assert res.returncode == 2 and "give the public key too" in res.stderr
    ok(second, "submit", "--queue", "public-queue", "--sigstore-bundle",
       str(work / "key.sigstore.json"), "--public-key", str(work / "bare.pub"))
    assert json.loads(ok(second, "sequence", "--json").splitlines()[-1])["admitted"] == 1


def test_wait_says_when_nothing_publishes_it_and_when_the_log_rejects_it(
        log: dict[str, Any], tmp_path: Path) -> None:
    work, second = log["work"], _second_log(tmp_path)
    args = ("submit", "--queue", "public-queue", "--sigstore-bundle",
            str(work / "cert.sigstore.json"), "--wait", "--log", "public", "--vkey", "log.pub")
    res = tlog(second, *args, "--wait-timeout", "1")
    assert res.returncode == 4 and "stays queued" in res.stderr
    other_ca = PrivateSigstore.create(tmp_path / "other-pki")  # this log trusts another CA only
    with open(second / "tlog.toml", "a") as f:
        f.write(f'\n[[trust.x509]]\nroots = "{other_ca.folder / "ca.pem"}"\n')
    ok(second, "sequence")
    # A rejection stored before this submission is an earlier run's: waited past (the log's
    # configuration may have changed), and named when the time runs out. It was reported at
    # once, exit 3, though a run after a fix logs the resubmission.
    res = tlog(second, *args, "--wait-timeout", "2")
    assert res.returncode == 4 and "stays queued. A run rejected it before (" in res.stderr
    assert "does not chain" in res.stderr and "the next run will too" in res.stderr
    with _sequencing(second):  # the next run rejects it again: said at once
        res = tlog(second, *args, "--wait-timeout", "60")
    assert res.returncode == 3, res.stderr
    assert "the log rejected submission" in res.stderr and "does not chain" in res.stderr
    (second / "tlog.toml").write_text((second / "tlog.toml").read_text().rsplit(
        "\n[[trust.x509]]", 1)[0])  # the operator mends the roots: the resubmission is logged
    with _sequencing(second):
        ok(second, *args, "--wait-timeout", "60")


@pytest.mark.parametrize(("origin", "url", "warned"), [
    ("log.sigstore.test", "https://log.sigstore.test", False),
    ("sigstore.test/log", "https://sigstore.test/log", True),
    ("log.sigstore.test", "https://other.sigstore.test", True)])
def test_init_says_when_sigstore_clients_would_not_find_the_key(
        tmp_path: Path, origin: str, url: str, warned: bool) -> None:
    ok(tmp_path, "keygen", origin, "--out", "log")
    res = tlog(tmp_path, "init", "--store", "public", "--origin", origin, "--key", "log.key",
               "--public-url", url)
    assert res.returncode == 0, res.stderr
    assert ("will not be Sigstore-compatible" in res.stderr) == warned
    if warned:
        assert "hostname" in res.stderr


@pytest.mark.parametrize(("origin", "url", "setting", "pure_admitted"), [
    (HOST, f"https://{HOST}", None, False),  # Sigstore-compatible: refused by default
    (HOST, f"https://{HOST}", "true", True),  # unless the operator opts in
    ("example.com/log", None, None, True),  # a log Sigstore clients cannot use: as before
    ("example.com/log", None, "false", False)])
def test_pure_ed25519_is_an_opt_in_for_a_sigstore_compatible_log(
        tmp_path: Path, origin: str, url: str | None, setting: str | None,
        pure_admitted: bool) -> None:
    from tests.signers import signer

    ok(tmp_path, "keygen", origin, "--out", "log")
    ok(tmp_path, "init", "--store", "public", "--origin", origin, "--key", "log.key",
       *(("--public-url", url) if url else ()))
    if setting:
        text = (tmp_path / "tlog.toml").read_text()
        (tmp_path / "tlog.toml").write_text(f"allow_pure_ed25519 = {setting}\n{text}")
    (tmp_path / "a.tgz").write_bytes(ARTIFACT)
    for algo in ("ed25519", "ed25519ph"):
        s = signer(algo, seed=3)
        (tmp_path / f"{algo}.pub").write_text(s.pem())
        (tmp_path / f"{algo}.sig").write_bytes(base64.b64encode(s.sign_artifact(ARTIFACT)))
        ok(tmp_path, "submit", "--queue", "public-queue", "--artifact", "a.tgz", "--signature",
           f"{algo}.sig", "--public-key", f"{algo}.pub")
    run = json.loads(ok(tmp_path, "sequence", "--json").splitlines()[-1])
    assert (run["admitted"], run["rejected"]) == ((2, 0) if pure_admitted else (1, 1))
    # Sigstore's clients rebuild an Ed25519 entry as Ed25519ph: a pure one gets no bundle
    said = [tlog(tmp_path, "bundle", "--log", "public", "--vkey", "log.pub", "--index", str(i),
                 "--format", "sigstore", "-o", "-") for i in range(run["admitted"])]
    refused = [r for r in said if r.returncode != 0]
    assert len(refused) == (1 if pure_admitted else 0)
    assert all(r.returncode == 2 and "rebuild the entry for this key as PKIX_ED25519_PH"
               in r.stderr for r in refused)
    if not pure_admitted:
        (record,) = (tmp_path / "public-queue" / "rejected").glob("*.json")
        reason = json.loads(record.read_text())["reason"]
        assert "does not accept pure Ed25519" in reason and "PKIX_ED25519_PH" in reason


def test_the_site_publishes_the_trusted_root_and_signing_config(log: dict[str, Any],
                                                                tmp_path: Path) -> None:
    from sigstore.models import SigningConfig

    work, p = log["work"], log["pki"].folder
    config = (work / "tlog.toml").read_text()
    (tmp_path / "tlog.toml").write_text(config.replace('store = "', f'store = "{work}/')
                                        .replace('queue = "', f'queue = "{work}/')
                                        .replace('file = "', f'file = "{work}/') + f"""
[sigstore]
write_url = "https://write.{HOST}"
ca_chains = ["{p / 'ca.pem'}"]
ctlog_keys = ["{p / 'ctfe.pub'}"]
tsa_chains = ["{p / 'tsa-chain.pem'}"]
ca_urls = ["https://fulcio.sigstore.test"]
tsa_urls = ["https://tsa.sigstore.test/api/v1/timestamp"]
operator = "sigstore.test"
""")
    ok(tmp_path, "site", "build", "--config", "tlog.toml")
    public = work / "public"
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(public / "trusted_root.json")))
    verifier.verify_artifact(ARTIFACT, Bundle.from_json(
        (work / "cert.sigstore.json").read_bytes()), POLICY)
    signing = SigningConfig.from_file(str(public / "signing_config.json"))
    assert [t.url for t in signing.get_tlogs()] == [f"https://write.{HOST}/api/v2"]
    assert signing.get_fulcio().url == "https://fulcio.sigstore.test"
    index = (public / "index.html").read_text()
    assert 'href="trusted_root.json"' in index and "will not verify" not in index


def _with(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    target = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return doc


HOSTILE = {  # (which bundle, where, what) -> a typed error, exit 2 or 3, never a traceback
    # (a submitted bundle's transparency log entries are not read: submit takes those)
    "superscript index": ("cert", ["verificationMaterial", "tlogEntries", 0, "logIndex"], "²"),
    "arabic digits": ("cert", ["verificationMaterial", "tlogEntries", 0, "logIndex"], "٣"),
    "surrogate checkpoint": ("cert", ["verificationMaterial", "tlogEntries", 0, "inclusionProof",
                                      "checkpoint", "envelope"], "\ud800"),
    "surrogate payload type": ("dsse", ["dsseEnvelope", "payloadType"], "\ud800"),
    "number for a string": ("dsse", ["dsseEnvelope", "payloadType"], 7),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_sigstore_bundles_get_one_line_errors(log: dict[str, Any], case: str,
                                                      tmp_path: Path) -> None:
    which, where, value = HOSTILE[case]
    work = log["work"]
    doc = _with(json.loads((work / f"{which}.sigstore.json").read_text()), where, value)
    (tmp_path / "b.json").write_text(json.dumps(doc))  # \ud800 is written escaped, as JSON allows
    for args in (("verify", "--vkey", "log.pub", "--bundle", str(tmp_path / "b.json")),
                 ("submit", "--queue", str(tmp_path / "q"), "--sigstore-bundle",
                  str(tmp_path / "b.json"))):
        res = tlog(work, *args)
        if args[0] == "submit" and "tlogEntries" in where:
            assert res.returncode == 0, res.stderr
            continue
        assert res.returncode in (2, 3), (args, res.stderr)
        assert "Traceback" not in res.stderr and res.stderr.startswith("error: ")


def test_hostile_timestamps_and_key_files_get_one_line_errors(log: dict[str, Any],
                                                              tmp_path: Path) -> None:
    work = log["work"]
    (tmp_path / "empty.tsr").write_bytes(b"\x30\x05\x30\x03\x02\x01\x00")  # granted, no token
    res = tlog(work, "bundle", "--log", "public", "--vkey", "log.pub", "--index", "0",
               "--format", "sigstore", "--timestamp", str(tmp_path / "empty.tsr"), "-o", "-")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    (tmp_path / "key.pub").write_bytes(b"\xff\xfe not a key")
    res = tlog(work, "submit", "--queue", str(tmp_path / "q"), "--sigstore-bundle",
               str(work / "key.sigstore.json"), "--public-key", str(tmp_path / "key.pub"))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    res = tlog(work, "trusted-root", "--vkey", "log.pub", "--base-url", f"https://{HOST}",
               "--valid-from", "garbage")
    assert res.returncode == 2 and "--valid-from" in res.stderr, res.stderr


ESCAPED = '{"mediaType": "application\\/vnd.dev.sigstore.bundle.v0.3+json"}'


@pytest.mark.parametrize("text", ['{"mediaType": "x"}', ESCAPED])
def test_a_file_with_a_media_type_is_read_as_a_sigstore_bundle(log: dict[str, Any], text: str,
                                                               tmp_path: Path) -> None:
    """A JSON object with a mediaType is meant as a Sigstore bundle (this log's own format has
    none): the error says what is wrong with it as one, also when the type's slashes are
    escaped, as JSON allows."""
    (tmp_path / "b.json").write_text(text)
    res = tlog(log["work"], "verify", "--vkey", "log.pub", "--bundle", str(tmp_path / "b.json"))
    assert res.returncode == 2 and "unknown member" not in res.stderr, res.stderr
    assert ("not a Sigstore bundle" in res.stderr or "verificationMaterial" in res.stderr)


def test_a_sigstore_bundle_of_an_entry_it_cannot_be_says_why(log: dict[str, Any],
                                                              tmp_path: Path) -> None:
    """`--format sigstore` of an entry of another type: one line saying what goes with what
    (it was "entry.spec.hashedRekordV002: missing (expected an object)")."""
    import shutil

    work = tmp_path / "copy"  # the module's log stays as the other tests know it
    shutil.copytree(log["work"], work)
    data = b"release 9\n"
    (work / "r9.txt").write_bytes(data)
    key = ed25519.Ed25519PrivateKey.generate()
    (work / "r9.sig").write_bytes(key.sign(data))
    (work / "r9.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    ok(work, "submit", "--queue", "public-queue", "--artifact", "r9.txt", "--signature",
       "r9.sig", "--public-key", "r9.pub")  # pure Ed25519 over the file: a signature entry
    size = json.loads(ok(work, "sequence", "--json").splitlines()[-1])["size"]
    res = tlog(work, "bundle", "--log", "public", "--vkey", "log.pub", "--format", "sigstore",
               "-o", "-", "--index", str(size - 1))
    assert res.returncode == 2 and res.stderr == (
        f"error: entry {size - 1} is a signature entry: --format sigstore makes a Sigstore "
        "bundle of a hashedrekord entry (with --dsse-envelope, of one a DSSE envelope's "
        "signature made); --format json or tlog-proof carry any entry\n"), res.stderr


def test_a_bundle_of_several_log_entries_is_refused(log: dict[str, Any], tmp_path: Path) -> None:
    """Only the first of a bundle's tlogEntries was checked, and "verified" said nothing of
    the others (one with another logIndex passed): a bundle of more than one is refused."""
    doc = json.loads((log["work"] / "key.sigstore.json").read_text())
    extra = json.loads(json.dumps(doc["verificationMaterial"]["tlogEntries"][0]))
    extra["logIndex"] = str(int(extra["logIndex"]) + 1)
    doc["verificationMaterial"]["tlogEntries"].append(extra)
    (tmp_path / "two.json").write_text(json.dumps(doc))
    res = tlog(log["work"], "verify", "--vkey", "log.pub", "--bundle", str(tmp_path / "two.json"))
    assert res.returncode == 2 and "verificationMaterial.tlogEntries: 2 entries" in res.stderr, (
        res.stderr)
    ok(log["work"], "verify", "--vkey", "log.pub", "--bundle", "key.sigstore.json")
