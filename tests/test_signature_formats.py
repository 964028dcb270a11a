"""The signatures people already make (issue 20), made by the real tools: GnuPG (armored and
binary), `ssh-keygen -Y sign` with an allowed_signers line, minisign (prehashed and legacy),
signify-openbsd, and OpenSSL's pure Ed25519 over the file. Each is submitted through `tlog
submit` as a shell user would, sequenced, verified by `tlog verify` from the artifact, found by
`tlog search` by the key's own identifier; a tampered artifact and a wrong key are refused with
reasons naming the field; `tlog monitor` says which signatures it could not re-check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
TOOLS = ("gpg", "ssh-keygen", "minisign", "signify-openbsd", "openssl")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason="a signing tool is missing (`bash scripts/ensure-tools.sh` installs them)")


def run(cwd: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(args, cwd=cwd, capture_output=True, input=input, timeout=120)
    assert res.returncode == 0, (args, res.stderr.decode())
    return res


def tlog(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@dataclass
class Signed:
    name: str
    signature: str  # file names in the work folder
    key: str
    key_id: str  # as the tool shows it (what a user pastes into --key-id), or "" to search by key
    identity: str | None = None
    rechecked: bool = True  # the entry alone re-verifies the signature (a prehashed scheme)
    wrong_key: str = ""


def _make(work: Path) -> list[Signed]:
    """Keys and signatures over artifact.tgz, made by each tool as its users do."""
    (work / "artifact.tgz").write_bytes(b"release 1.2.3\n" * 1000)
    out = []
    gpg = _gpg(work / "gnupg")
    for who in ("Alice <alice@example.com>", "Mallory <mallory@example.com>"):
        run(work, *gpg, "--quick-gen-key", who, "ed25519", "sign", "never")
    run(work, *gpg, "--armor", "--output", "alice.asc", "--export", "alice@example.com")
    run(work, *gpg, "--armor", "--output", "mallory.asc", "--export", "mallory@example.com")
    fpr = _fingerprint(work, gpg, "alice@example.com")
    run(work, *gpg, "--local-user", "alice@example.com", "--armor", "--detach-sign",
        "--output", "artifact.tgz.asc", "artifact.tgz")
    run(work, *gpg, "--local-user", "alice@example.com", "--detach-sign",
        "--output", "artifact.tgz.gpg", "artifact.tgz")
    out += [Signed("gpg armored", "artifact.tgz.asc", "alice.asc", fpr, "alice@example.com",
                   rechecked=False, wrong_key="mallory.asc"),
            Signed("gpg binary", "artifact.tgz.gpg", "alice.asc", fpr, "alice@example.com",
                   rechecked=False, wrong_key="mallory.asc")]

    run(work, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci@build", "-f", "id_ed25519")
    run(work, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "other_ssh")
    pub = (work / "id_ed25519.pub").read_text().split()
    (work / "allowed_signers").write_text(f"release@example.com {pub[0]} {pub[1]}\n")
    run(work, "ssh-keygen", "-Y", "sign", "-f", "id_ed25519", "-n", "file", "artifact.tgz")
    ssh_fp = run(work, "ssh-keygen", "-lf", "id_ed25519.pub").stdout.decode().split()[1]
    out.append(Signed("ssh", "artifact.tgz.sig", "allowed_signers", ssh_fp,
                      "release@example.com", wrong_key="other_ssh.pub"))

    run(work, "minisign", "-G", "-W", "-p", "minisign.pub", "-s", "minisign.key")
    run(work, "minisign", "-G", "-W", "-p", "minisign2.pub", "-s", "minisign2.key")
    run(work, "minisign", "-S", "-s", "minisign.key", "-m", "artifact.tgz",
        "-x", "artifact.tgz.minisig")
    run(work, "minisign", "-S", "-l", "-s", "minisign.key", "-m", "artifact.tgz",
        "-x", "artifact.tgz.legacy.minisig")
    mid = (work / "minisign.pub").read_text().split()[-2]  # "… minisign public key <ID>"
    out += [Signed("minisign", "artifact.tgz.minisig", "minisign.pub", mid,
                   wrong_key="minisign2.pub"),
            Signed("minisign legacy", "artifact.tgz.legacy.minisig", "minisign.pub", mid,
                   rechecked=False, wrong_key="minisign2.pub")]

    run(work, "signify-openbsd", "-G", "-n", "-p", "release.pub", "-s", "release.sec")
    run(work, "signify-openbsd", "-G", "-n", "-p", "other.pub", "-s", "other.sec")
    run(work, "signify-openbsd", "-S", "-s", "release.sec", "-m", "artifact.tgz",
        "-x", "artifact.tgz.signify")
    out.append(Signed("signify", "artifact.tgz.signify", "release.pub", "", rechecked=False,
                      wrong_key="other.pub"))

    for name in ("ed", "ed2"):
        run(work, "openssl", "genpkey", "-algorithm", "ed25519", "-out", f"{name}.pem")
        run(work, "openssl", "pkey", "-in", f"{name}.pem", "-pubout", "-out", f"{name}.pub.pem")
    run(work, "openssl", "pkeyutl", "-sign", "-rawin", "-inkey", "ed.pem",
        "-in", "artifact.tgz", "-out", "artifact.tgz.ed25519")
    out.append(Signed("openssl ed25519", "artifact.tgz.ed25519", "ed.pub.pem", "",
                      rechecked=False, wrong_key="ed2.pub.pem"))
    return out


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[Signed]]:
    """A log holding every signature above, submitted and sequenced through the CLI."""
    work = tmp_path_factory.mktemp("formats")
    signed = _make(work)
    assert tlog(work, "keygen", "formats.example/log", "--out", "log").returncode == 0
    assert tlog(work, "init", "--store", "public", "--origin", "formats.example/log",
                "--key", "log.key").returncode == 0
    for s in signed:
        res = tlog(work, "submit", "--queue", "public-queue", "--artifact", "artifact.tgz",
                   "--signature", s.signature, "--public-key", s.key, "--json")
        assert res.returncode == 0, (s.name, res.stderr)
        (receipt,) = json.loads(res.stdout)
        assert receipt["type"] == "signature", s.name
    res = tlog(work, "sequence", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.splitlines()[-1])["admitted"] == len(signed)
    return work, (work / "log.pub").read_text().strip(), signed


def _case(logged: tuple[Path, str, list[Signed]], name: str) -> Signed:
    return next(s for s in logged[2] if s.name == name)


NAMES = ["gpg armored", "gpg binary", "ssh", "minisign", "minisign legacy", "signify",
         "openssl ed25519"]


@pytest.mark.parametrize("name", NAMES)
def test_verified_from_the_artifact(logged: tuple[Path, str, list[Signed]], name: str) -> None:
    work, vkey, _ = logged
    s = _case(logged, name)
    res = tlog(work, "verify", "--log", "public", "--vkey", vkey, "--artifact", "artifact.tgz",
               "--signature", s.signature, "--public-key", s.key, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["verified"] is True


@pytest.mark.parametrize("name", NAMES)
def test_found_by_the_keys_own_identifier(logged: tuple[Path, str, list[Signed]],
                                          name: str) -> None:
    work, vkey, signed = logged
    s = _case(logged, name)
    how = ["--key-id", s.key_id] if s.key_id else ["--public-key", s.key]
    res = tlog(work, "search", "--log", "public", "--vkey", vkey, *how, "--json")
    assert res.returncode == 0, res.stderr
    hits = json.loads(res.stdout)["matches"]
    same_key = [x for x in signed if x.key == s.key]
    assert len(hits) == len(same_key) and all(h["type"] == "signature" for h in hits)
    if s.identity:
        res = tlog(work, "search", "--log", "public", "--vkey", vkey, "--identity",
                   s.identity.upper(), "--json")
        assert len(json.loads(res.stdout)["matches"]) == len(same_key)
    if s.name == "ssh":
        res = tlog(work, "search", "--log", "public", "--vkey", vkey, "--ssh-namespace", "file",
                   "--json")
        assert len(json.loads(res.stdout)["matches"]) == 1


@pytest.mark.parametrize("name", NAMES)
def test_a_tampered_artifact_is_refused(logged: tuple[Path, str, list[Signed]],
                                        name: str) -> None:
    work, vkey, _ = logged
    s = _case(logged, name)
    (work / "tampered.tgz").write_bytes((work / "artifact.tgz").read_bytes() + b"!")
    res = tlog(work, "verify", "--log", "public", "--vkey", vkey, "--artifact", "tampered.tgz",
               "--signature", s.signature, "--public-key", s.key)
    assert res.returncode == 3, res.stderr
    # (OpenSSL's raw Ed25519 signature is read as a hashedrekord first, and named so.)
    assert "signature.signature: does not verify" in res.stderr or (
        name == "openssl ed25519" and "hashedrekord.signature: does not verify" in res.stderr)
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_key_is_refused(logged: tuple[Path, str, list[Signed]], name: str) -> None:
    work = logged[0]
    s = _case(logged, name)
    res = tlog(work, "submit", "--queue", "public-queue", "--artifact", "artifact.tgz",
               "--signature", s.signature, "--public-key", s.wrong_key)
    assert res.returncode in (2, 3), res.stderr
    assert "signature.public_key: signed by" in res.stderr or (
        name == "openssl ed25519" and "hashedrekord.signature: does not verify" in res.stderr)
    assert "Traceback" not in res.stderr and len(res.stderr.splitlines()) == 1


def test_the_monitor_says_what_it_could_not_recheck(
        logged: tuple[Path, str, list[Signed]]) -> None:
    work, vkey, signed = logged
    res = tlog(work, "monitor", "--log", "public", "--vkey", vkey, "--state", "monitor",
               "--once")
    assert res.returncode == 0, res.stderr
    whole = sum(not s.rechecked for s in signed)
    assert (f"checked {len(signed)} new entries up to size {len(signed)} ({whole} signed over "
            "the whole artifact") in res.stderr


@pytest.mark.parametrize("size", [600 * 1024, 3_000_000])
def test_an_oversized_whole_message_artifact_says_what_to_do(tmp_path: Path, size: int) -> None:
    """A signature over a whole file larger than a submission carries: one message naming the
    artifact and what to sign with instead, whatever the size (from about 785 KB it was
    "document: … bytes exceeds the 1048576-byte limit", a document the user never wrote)."""
    run(tmp_path, "signify-openbsd", "-G", "-n", "-p", "k.pub", "-s", "k.sec")
    (tmp_path / "big.bin").write_bytes(b"\0" * size)
    run(tmp_path, "signify-openbsd", "-S", "-s", "k.sec", "-m", "big.bin", "-x", "big.sig")
    res = tlog(tmp_path, "submit", "--queue", "q", "--artifact", "big.bin", "--signature",
               "big.sig", "--public-key", "k.pub")
    assert res.returncode == 2 and res.stderr == (
        f"error: --artifact: {size} bytes: this signify signature signs the whole file, which "
        "the log must see to check, and it takes at most 524288 bytes of it: sign the file's "
        "digest instead, with ssh-keygen -Y sign, minisign without -l, or a hashedrekord\n"
    ), res.stderr


def _ssh_line(work: Path, who: str, pub: str, options: str = "") -> str:
    kind, b64 = (work / pub).read_text().split()[:2]
    return f"{who} {options + ' ' if options else ''}{kind} {b64}\n"


def test_a_teams_allowed_signers_file_finds_the_signers_line(
        logged: tuple[Path, str, list[Signed]], tmp_path: Path) -> None:
    """An allowed_signers file of several maintainers (as git's): the signer's line is found,
    and the logged entry publishes that line only, not the whole team's (only the first line
    was read: "signed by SSH key …, not by this key")."""
    work = logged[0]
    team = tmp_path / "team_signers"
    team.write_text("# release team\n" + _ssh_line(work, "bob@example.com", "other_ssh.pub")
                    + _ssh_line(work, "release@example.com", "id_ed25519.pub"))
    for name in ("artifact.tgz", "artifact.tgz.sig"):
        shutil.copy(work / name, tmp_path / name)
    assert tlog(tmp_path, "keygen", "team.example/log", "--out", "log").returncode == 0
    assert tlog(tmp_path, "init", "--store", "public", "--origin", "team.example/log",
                "--key", "log.key").returncode == 0
    args = ["--artifact", "artifact.tgz", "--signature", "artifact.tgz.sig", "--public-key",
            str(team)]
    res = tlog(tmp_path, "submit", "--queue", "public-queue", *args)
    assert res.returncode == 0, res.stderr
    assert tlog(tmp_path, "sequence").returncode == 0
    entry = json.loads((tmp_path / "public" / "tile" / "entries" / "000.p" / "1").read_bytes()[2:])
    import base64

    assert base64.b64decode(entry["spec"]["publicKey"]).decode() == _ssh_line(
        work, "release@example.com", "id_ed25519.pub")
    res = tlog(tmp_path, "verify", "--log", "public", "--vkey", "log.pub", "--state", "t", *args)
    assert res.returncode == 0, res.stderr
    (tmp_path / "strangers").write_text(_ssh_line(work, "bob@example.com", "other_ssh.pub") * 2)
    res = tlog(tmp_path, "submit", "--queue", "public-queue", *args[:4], "--public-key",
               "strangers")
    assert res.returncode == 3 and "which none of the 2 keys in this file is" in res.stderr


@pytest.mark.parametrize(("options", "code", "says"), [
    ('namespaces="git"', 3, "the allowed_signers line of this key allows the namespaces 'git', "
                            "not 'file'"),
    ('valid-before="20200101"', 2, "the allowed_signers option 'valid-before' is not "
                                   "supported: give the signer's key line without it"),
    ('valid-after="20200101"', 2, "the allowed_signers option 'valid-after' is not supported"),
    ("cert-authority", 2, "the allowed_signers option 'cert-authority' is not supported"),
])
def test_allowed_signers_options_apply_as_ssh_keygen_applies_them(
        logged: tuple[Path, str, list[Signed]], options: str, code: int, says: str) -> None:
    """A line's options restrict its key (ssh-keygen -Y verify refuses these): they were
    ignored, and the signature logged with the key's identity. namespaces= applies; time
    limits and certificates are refused (the core reads no clock, and a logged entry is
    re-checked long after its line's time limit may have passed)."""
    work = logged[0]
    line = work / f"opts-{abs(hash(options))}"
    line.write_text(_ssh_line(work, "release@example.com", "id_ed25519.pub", options))
    res = tlog(work, "submit", "--queue", "opts-queue", "--artifact", "artifact.tgz",
               "--signature", "artifact.tgz.sig", "--public-key", str(line))
    assert res.returncode == code and says in res.stderr, res.stderr
    assert len(res.stderr.splitlines()) == 1
    ok = work / "opts-file"
    ok.write_text(_ssh_line(work, "release@example.com", "id_ed25519.pub",
                            'namespaces="git,file"'))
    assert tlog(work, "submit", "--queue", "opts-queue", "--artifact", "artifact.tgz",
                "--signature", "artifact.tgz.sig", "--public-key", str(ok)).returncode == 0


def test_monitors_recheck_what_the_entry_allows(logged: tuple[Path, str, list[Signed]]) -> None:
    """From the entry alone: a prehashed signature is re-verified over the logged digest (a
    changed digest fails), and every entry's key ID and identities must be its key's."""
    from tlog.entries import canonical_json, verify_entry
    from tlog.errors import VerificationError
    from tlog.tiles import decode_entry_bundle

    work, _, signed = logged
    bundle = (work / "public" / "tile" / "entries" / f"000.p/{len(signed)}").read_bytes()
    entries = decode_entry_bundle(bundle, len(signed))
    for entry in entries:
        verify_entry(entry)
        body = json.loads(entry)
        forged = json.loads(entry)
        forged["spec"]["keyId"] = "00" * 20
        with pytest.raises(VerificationError, match="logged keyId"):
            verify_entry(canonical_json(forged))
        if body["spec"]["format"] in ("ssh", "minisign") and len(body["spec"]["digests"]) > 1:
            other = next(k for k in body["spec"]["digests"] if k != "sha256")
            body["spec"]["digests"][other] = "00" * (len(body["spec"]["digests"][other]) // 2)
            with pytest.raises(VerificationError, match="does not verify over the logged"):
                verify_entry(canonical_json(body))


@pytest.mark.parametrize(("name", "expected"), [
    ("ssh", "error: --signature: not an SSH signature, which --public-key (an SSH key) "
     "checks: is the file whole?"),
    ("gpg binary", "error: --signature: not an OpenPGP signature, which --public-key (an "
     "OpenPGP key) checks: is the file whole?"),
    ("minisign", "error: signature.signature: not a minisign signature: "),
])
def test_a_truncated_signature_is_blamed_on_the_signature(
        logged: tuple[Path, str, list[Signed]], name: str, expected: str) -> None:
    """A signature file cut short, with the key that would check it: the error names the
    signature and the tool, where it blamed the key ("--public-key: not a PEM, DER or base64
    DER key") or called a minisign file a signify one."""
    work = logged[0]
    s = _case(logged, name)
    cut = work / f"cut-{s.signature}"
    data = (work / s.signature).read_bytes()
    cut.write_bytes(data[: 20 if name != "minisign" else data.index(b"\ntrusted comment")])
    res = tlog(work, "submit", "--queue", "public-queue", "--artifact", "artifact.tgz",
               "--signature", str(cut), "--public-key", s.key)
    assert res.returncode == 2 and res.stderr.startswith(expected), res.stderr
    assert len(res.stderr.splitlines()) == 1


def test_a_gnupg_keybox_is_not_a_key_file(logged: tuple[Path, str, list[Signed]]) -> None:
    work = logged[0]
    res = tlog(work, "submit", "--queue", "public-queue", "--artifact", "artifact.tgz",
               "--signature", _case(logged, "gpg binary").signature, "--public-key",
               str(work / "gnupg" / "pubring.kbx"))
    assert res.returncode == 2 and res.stderr == (
        "error: --public-key: a GnuPG keybox (pubring.kbx) is GnuPG's own store, not a key "
        "file: give an exported key (gpg --export --armor KEYID)\n"), res.stderr


def test_a_minisign_signature_is_minisign_whatever_its_keys_comment(
        logged: tuple[Path, str, list[Signed]]) -> None:
    """A whole minisign signature (its trusted comment says so) with a key whose comment does
    not name minisign (rsign2 writes "rsign public key"): minisign, as the signature says; the
    key's comment decides only for a file too short to tell."""
    work = logged[0]
    s = _case(logged, "minisign")
    lines = (work / s.key).read_text().splitlines()
    (work / "rsign.pub").write_text("untrusted comment: rsign public key: 1234\n" + lines[1] + "\n")
    res = tlog(work, "submit", "--queue", "public-queue", "--artifact", "artifact.tgz",
               "--signature", s.signature, "--public-key", "rsign.pub", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["type"] == "signature"


def _gpg(home: Path) -> list[str]:
    home.mkdir(mode=0o700, exist_ok=True)
    return ["gpg", "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback",
            "--passphrase", ""]


def _fingerprint(work: Path, gpg: list[str], who: str) -> str:
    return next(line.split(":")[9] for line in run(
        work, *gpg, "--with-colons", "--fingerprint", who).stdout.decode().splitlines()
        if line.startswith("fpr:"))


def test_a_projects_keys_file_checks_a_signing_subkeys_signature(tmp_path: Path) -> None:
    """A project's KEYS file (several maintainers' keys, as `gpg --export A B`) and a signature
    by one maintainer's signing subkey: found, checked and logged under that maintainer's
    key (it was "signed by OpenPGP key …, which the public key file does not hold")."""
    gpg = _gpg(tmp_path / "gnupg")
    run(tmp_path, *gpg, "--quick-gen-key", "Bob <bob@example.com>", "ed25519", "sign", "1y")
    run(tmp_path, *gpg, "--quick-gen-key", "Rel <rel@example.com>", "ed25519", "cert", "never")
    rel = _fingerprint(tmp_path, gpg, "rel@example.com")
    run(tmp_path, *gpg, "--quick-add-key", rel, "ed25519", "sign", "2y")
    (tmp_path / "app.tgz").write_bytes(b"release 1.0\n")
    run(tmp_path, *gpg, "--local-user", "rel@example.com", "--armor", "--detach-sign",
        "--output", "app.tgz.asc", "app.tgz")
    run(tmp_path, *gpg, "--armor", "--output", "KEYS", "--export", "bob@example.com",
        "rel@example.com")
    res = tlog(tmp_path, "submit", "--queue", "q", "--artifact", "app.tgz", "--signature",
               "app.tgz.asc", "--public-key", "KEYS", "--json")
    assert res.returncode == 0, res.stderr
    assert f"keyid:{rel.lower()}" in json.loads(res.stdout)[0]["search_keys"]


def test_a_signature_older_than_the_keys_renewal_says_why_it_fails(tmp_path: Path) -> None:
    """A key whose expiry was extended after it signed: GnuPG exports only the new
    self-signature, and Sequoia checks the key as bound when it signed. Not supported (the
    README says so); the error says why, where it said the valid signature "does not
    verify with the given openpgp key"."""
    gpg = _gpg(tmp_path / "gnupg")
    run(tmp_path, *gpg, "--quick-gen-key", "Alice <alice@example.com>", "ed25519", "sign", "1y")
    (tmp_path / "app.tgz").write_bytes(b"release 1.0\n")
    run(tmp_path, *gpg, "--local-user", "alice@example.com", "--armor", "--detach-sign",
        "--output", "app.tgz.asc", "app.tgz")
    import time

    time.sleep(1.1)  # the renewal's self-signature a second later
    alice = _fingerprint(tmp_path, gpg, "alice@example.com")
    run(tmp_path, *gpg, "--quick-set-expire", alice, "2y")
    run(tmp_path, *gpg, "--armor", "--output", "alice.asc", "--export", "alice@example.com")
    res = tlog(tmp_path, "submit", "--queue", "q", "--artifact", "app.tgz", "--signature",
               "app.tgz.asc", "--public-key", "alice.asc")
    assert res.returncode == 3, res.stderr
    assert res.stderr.startswith("error: signature.signature: made ")
    assert (f"before every self-signature of key {alice.lower()} in this key file") in res.stderr
    assert "GnuPG keeps only a key's newest self-signature once its expiry changes" in res.stderr


@pytest.mark.parametrize(("name", "other_key"), [("ssh", "id_ed25519.pub"),
                                                 ("gpg armored", "alice.gpg")])
def test_verify_finds_the_entry_from_the_same_key_encoded_otherwise(
        logged: tuple[Path, str, list[Signed]], name: str, other_key: str) -> None:
    """The consumer's copy of the key is encoded otherwise than the submitter's (id_*.pub where
    an allowed_signers line was logged; a binary export where an armored one was): verify finds
    the logged entry of the same artifact by the same key and says so (it was "no entry with
    leaf hash … in the log (according to its index); not included yet?", exit 3)."""
    work, vkey, _ = logged
    s = _case(logged, name)
    if other_key == "alice.gpg" and not (work / other_key).exists():
        run(work, "gpg", "--homedir", str(work / "gnupg"), "--batch", "--output", other_key,
            "--export", "alice@example.com")
    res = tlog(work, "verify", "--log", "public", "--vkey", vkey, "--state", f"v-{name}",
               "--artifact", "artifact.tgz", "--signature", s.signature, "--public-key",
               other_key)
    assert res.returncode == 0, res.stderr
    assert "note: your files make another entry than the log holds: entry " in res.stderr
    assert "of the same artifact (sha256:" in res.stderr
    # Another key's file is still no entry of this artifact.
    res = tlog(work, "verify", "--log", "public", "--vkey", vkey, "--state", f"v-{name}",
               "--artifact", "artifact.tgz", "--signature", s.signature, "--public-key",
               s.wrong_key)
    assert res.returncode == 3 and "note:" not in res.stderr


@pytest.mark.parametrize(("key", "says"), [
    ("id_ed25519", "this is an OpenSSH private key: give the public key (its .pub)"),
    ("minisign.key", "this is a minisign secret key: give the public key (the .pub"),
    ("release.sec", "this is a signify secret key: give the public key (the .pub"),
    ("ed.pem", "this is a private key: give the public key (openssl pkey -pubout)"),
])
def test_a_secret_key_given_as_the_public_key_is_named(
        logged: tuple[Path, str, list[Signed]], key: str, says: str) -> None:
    """Each tool's secret key given for --public-key: said so, exit 2, before anything is
    queued (they were "not an OpenSSH public key", "158 bytes, expected 42", "expected a
    PUBLIC KEY or CERTIFICATE PEM block")."""
    work = logged[0]
    res = tlog(work, "submit", "--queue", "secret-queue", "--artifact", "artifact.tgz",
               "--signature", "artifact.tgz.sig", "--public-key", key)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"error: --public-key: {says}"), res.stderr
    assert "never the secret one (the log publishes the key it is given)" in res.stderr
    assert not (work / "secret-queue").exists()


def test_what_the_tools_make_that_is_not_a_detached_signature_says_what_to_do(
        logged: tuple[Path, str, list[Signed]], tmp_path: Path) -> None:
    """gpg --clearsign output, an SSH ECDSA key, and an in-toto-run --use-dsse file given as a
    link: each says what to give instead (they were "not an OpenPGP signature … is the file
    whole?", "Public key algorithm not supported: ecdsa-sha2-nistp256.", "unknown field(s)
    payload, payloadType")."""
    work = logged[0]
    gpg = _gpg(work / "gnupg")
    run(work, *gpg, "--local-user", "alice@example.com", "--yes", "--clearsign", "--output",
        str(tmp_path / "clear.asc"), "artifact.tgz")
    res = tlog(work, "submit", "--queue", "q", "--artifact", "artifact.tgz", "--signature",
               str(tmp_path / "clear.asc"), "--public-key", "alice.asc")
    assert res.returncode == 2 and res.stderr == (
        "error: --signature: an OpenPGP signed message (gpg --clearsign or --sign), not a "
        "detached signature: sign with gpg --detach-sign (--armor for text)\n"), res.stderr
    run(tmp_path, "ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", "id_ecdsa")
    shutil.copy(work / "artifact.tgz", tmp_path)
    run(tmp_path, "ssh-keygen", "-Y", "sign", "-n", "file", "-f", "id_ecdsa", "artifact.tgz")
    res = tlog(tmp_path, "submit", "--queue", "q", "--artifact", "artifact.tgz",
               "--signature", "artifact.tgz.sig", "--public-key", "id_ecdsa.pub")
    assert res.returncode == 2, res.stderr
    assert ("SSH ecdsa-sha2-nistp256 keys are not supported (Ed25519 and RSA are)"
            in res.stderr), res.stderr
    (tmp_path / "build.link").write_text(json.dumps(
        {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}))
    res = tlog(tmp_path, "submit", "--queue", "q", "--link", "build.link", "--public-key",
               str(work / "ed.pub.pem"))
    assert res.returncode == 2, res.stderr
    assert "a DSSE envelope (in-toto-run --use-dsse), not a link file: give it with --dsse" in (
        res.stderr), res.stderr


def test_a_teams_file_with_lines_tiledlog_cannot_use_still_serves_its_other_signers(
        logged: tuple[Path, str, list[Signed]], tmp_path: Path) -> None:
    """A teammate's ECDSA key or a certificate authority line does not stop the others (it
    refused the whole file); namespaces= are OpenSSH pattern lists, and any line holding the
    key may allow the namespace, as ssh-keygen -Y verify reads them."""
    work = logged[0]
    run(tmp_path, "ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", "id_ecdsa")
    ecdsa = _ssh_line(tmp_path, "bob@example.com", "id_ecdsa.pub")
    ca = _ssh_line(work, "*@example.com", "other_ssh.pub", "cert-authority")
    cases = {
        "team": ecdsa + ca + _ssh_line(work, "release@example.com", "id_ed25519.pub"),
        "star": _ssh_line(work, "release@example.com", "id_ed25519.pub", 'namespaces="*"'),
        "glob": _ssh_line(work, "release@example.com", "id_ed25519.pub", 'namespaces="git,fil?"'),
        "two lines": (_ssh_line(work, "release@example.com", "id_ed25519.pub",
                                'namespaces="git"') + _ssh_line(
            work, "release@example.com", "id_ed25519.pub", 'namespaces="file"')),
    }
    for name, text in cases.items():
        (tmp_path / "signers").write_text(text)
        res = tlog(work, "submit", "--queue", "team-queue", "--artifact", "artifact.tgz",
                   "--signature", "artifact.tgz.sig", "--public-key", str(tmp_path / "signers"))
        assert res.returncode == 0, (name, res.stderr)
    (tmp_path / "signers").write_text(_ssh_line(work, "release@example.com", "id_ed25519.pub",
                                                'namespaces="!file,*"'))
    res = tlog(work, "submit", "--queue", "team-queue", "--artifact", "artifact.tgz",
               "--signature", "artifact.tgz.sig", "--public-key", str(tmp_path / "signers"))
    assert res.returncode == 3 and "allows the namespaces '!file,*', not 'file'" in res.stderr
    # The unusable line is the signer's: its reason.
    (tmp_path / "signers").write_text(ecdsa + _ssh_line(work, "x@example.com", "other_ssh.pub"))
    run(tmp_path, "ssh-keygen", "-Y", "sign", "-n", "file", "-f", "id_ecdsa", "signers")
    res = tlog(tmp_path, "submit", "--queue", "q", "--artifact", "signers", "--signature",
               "signers.sig", "--public-key", "signers")
    assert res.returncode == 2 and "ecdsa-sha2-nistp256 keys are not supported" in res.stderr


def test_verify_does_not_take_another_key_with_the_same_key_number(tmp_path: Path) -> None:
    """A signify key number is its maker's choice: a thief's key can carry the maintainer's.
    Verify's search for the same claim made from files encoded otherwise must not take the
    thief's logged signature for the maintainer's (it did: exit 0, and the maintainer's
    monitor saw nothing); nor may it stand in for the exact bytes given with --entry."""
    import base64

    def renumber(path: Path, number: bytes) -> None:
        head, b64 = path.read_text().splitlines()[:2]
        raw = base64.b64decode(b64)
        path.write_text(f"{head}\n{base64.b64encode(raw[:2] + number + raw[10:]).decode()}\n")

    run(tmp_path, "signify-openbsd", "-G", "-n", "-p", "mine.pub", "-s", "mine.sec")
    run(tmp_path, "signify-openbsd", "-G", "-n", "-p", "thief.pub", "-s", "thief.sec")
    (tmp_path / "app.tgz").write_bytes(b"release 1.0\n")
    run(tmp_path, "signify-openbsd", "-S", "-s", "mine.sec", "-m", "app.tgz", "-x", "mine.sig")
    run(tmp_path, "signify-openbsd", "-S", "-s", "thief.sec", "-m", "app.tgz", "-x", "thief.sig")
    number = base64.b64decode((tmp_path / "mine.pub").read_text().splitlines()[1])[2:10]
    renumber(tmp_path / "thief.pub", number)
    renumber(tmp_path / "thief.sig", number)
    assert tlog(tmp_path, "keygen", "spoof.example/log", "--out", "log").returncode == 0
    assert tlog(tmp_path, "init", "--store", "public", "--origin", "spoof.example/log",
                "--key", "log.key").returncode == 0
    res = tlog(tmp_path, "submit", "--queue", "public-queue", "--artifact", "app.tgz",
               "--signature", "thief.sig", "--public-key", "thief.pub")
    assert res.returncode == 0, res.stderr
    assert tlog(tmp_path, "sequence").returncode == 0
    res = tlog(tmp_path, "verify", "--log", "public", "--vkey", "log.pub", "--state", "t",
               "--artifact", "app.tgz", "--signature", "mine.sig", "--public-key", "mine.pub")
    assert res.returncode == 3 and "note:" not in res.stderr, res.stderr
    # --entry: exactly those bytes, or nothing.
    entry = json.loads((tmp_path / "public" / "tile" / "entries" / "000.p" / "1").read_bytes()[2:])
    sig = bytearray(base64.b64decode(entry["spec"]["signature"]))
    sig[-1] ^= 1
    entry["spec"]["signature"] = base64.b64encode(bytes(sig)).decode()
    from tlog.entries import canonical_json

    (tmp_path / "forged.entry").write_bytes(canonical_json(entry))
    res = tlog(tmp_path, "verify", "--log", "public", "--vkey", "log.pub", "--state", "t",
               "--entry", "forged.entry")
    assert res.returncode == 3 and "note:" not in res.stderr, res.stderr
