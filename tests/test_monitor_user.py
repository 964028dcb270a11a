"""`tlog monitor` as a maintainer watching their own keys meets it: a stolen SSH key used in
another format, a digest as `sha256sum` prints it, an alert hook that fails, a state file gone
bad, and evidence that a third party can check (issue 23's monitor, a user's walk)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
ORIGIN = "mon.example/log"
pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None or shutil.which("openssl")
                                is None, reason="ssh-keygen and openssl make the signatures")


def tlog(cwd: Path, *args: str, code: int | None = 0) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                         timeout=120)
    if code is not None:
        assert res.returncode == code, (args, res.stdout, res.stderr)
    return res


def run(cwd: Path, *args: str) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A folder log holding an SSH signature and an OpenSSL pure Ed25519 signature, both by
    the maintainer's one SSH key (the second as a thief who took the key would make it)."""
    from cryptography.hazmat.primitives import serialization as ser

    run(tmp_path, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@example.com", "-f",
        "id_release")
    (tmp_path / "a.tgz").write_bytes(b"release 1.0\n")
    (tmp_path / "b.tgz").write_bytes(b"not a release of ours\n")
    run(tmp_path, "ssh-keygen", "-Y", "sign", "-n", "file", "-f", "id_release", "a.tgz")
    key = ser.load_ssh_private_key((tmp_path / "id_release").read_bytes(), None)
    (tmp_path / "stolen.pem").write_bytes(key.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
    (tmp_path / "stolen.pub.pem").write_bytes(key.public_key().public_bytes(
        ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo))
    run(tmp_path, "openssl", "pkeyutl", "-sign", "-rawin", "-inkey", "stolen.pem", "-in",
        "b.tgz", "-out", "b.sig")
    tlog(tmp_path, "keygen", ORIGIN, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--queue", "queue", "--origin", ORIGIN,
         "--key", "log.key")
    tlog(tmp_path, "submit", "--queue", "queue", "--artifact", "a.tgz", "--signature",
         "a.tgz.sig", "--public-key", "id_release.pub")
    tlog(tmp_path, "submit", "--queue", "queue", "--artifact", "b.tgz", "--signature", "b.sig",
         "--public-key", "stolen.pub.pem")
    tlog(tmp_path, "sequence")
    return tmp_path


def _monitor(work: Path, state: str, *args: str, code: int | None = None,
             ) -> subprocess.CompletedProcess[str]:
    return tlog(work, "monitor", "--log", "public", "--vkey", "log.pub", "--state", state,
                *args, code=code)


def test_a_watched_ssh_key_is_found_whatever_format_it_signed_in(log: Path) -> None:
    """Watching id_release.pub found its SSH signature only; the same key's signature in
    another format (what a thief with the key would log) went unseen, and so did `tlog
    search --public-key`."""
    res = _monitor(log, "s1", "--json", "--watch-key", "id_release.pub", code=4)
    assert sorted(json.loads(line)["index"] for line in res.stdout.splitlines()) == [0, 1]
    import hashlib

    # The text line says what was signed, to tell one's own release from another's (it
    # said only "matched key:…").
    text = _monitor(log, "s1b", "--watch-key", "id_release.pub", code=4).stdout
    for name in ("a.tgz", "b.tgz"):
        digest = hashlib.sha256((log / name).read_bytes()).hexdigest()
        assert f": signature of sha256:{digest}" in text, text
    found = json.loads(tlog(log, "search", "--log", "public", "--vkey", "log.pub", "--state",
                            "t", "--public-key", "id_release.pub", "--json").stdout)
    assert [m["index"] for m in found["matches"]] == [0, 1]


def test_a_watched_digest_is_read_as_search_reads_it(log: Path) -> None:
    """`--watch-digest` as sha256sum prints it matched nothing, and a typo was accepted: a
    watch that could never fire, exit 0."""
    import hashlib

    bare = hashlib.sha256((log / "b.tgz").read_bytes()).hexdigest()
    res = _monitor(log, "s2", "--json", "--watch-digest", bare.upper(), code=4)
    assert [json.loads(line)["matched"] for line in res.stdout.splitlines()] == [
        [f"sha256:{bare}"]]
    for bad in ("bogus", "sha256:abc", "md5:" + "0" * 32):
        res = _monitor(log, "s3", "--watch-digest", bad, code=2)
        assert res.stderr.startswith(f"error: --watch-digest {bad!r}: expected sha256:"), res


def test_a_failing_alert_hook_keeps_the_events_for_the_next_pass(log: Path) -> None:
    """`--exec` that fails: the run says so and keeps its state, and the next pass hands the
    event out again (the failure was silent, and the alert lost: the next run was exit 0)."""
    res = _monitor(log, "s4", "--watch-key", "stolen.pub.pem", "--exec", "exit 3", code=1)
    assert res.stderr.strip().endswith(
        "--exec exited 3 on the match event of entry 0: the state is kept, so the next pass "
        "hands out this pass's events again"), res.stderr
    _monitor(log, "s4", "--watch-key", "stolen.pub.pem", "--exec", "cat >> got.jsonl", code=4)
    got = [json.loads(line) for line in (log / "got.jsonl").read_text().splitlines()]
    assert [e["index"] for e in got] == [0, 1]
    assert _monitor(log, "s4", "--watch-key", "stolen.pub.pem", code=0).returncode == 0


def test_a_corrupt_state_file_says_what_to_do(log: Path) -> None:
    """A state file that is not one: exit 2 with what to do (it was exit 1, "try again",
    which cannot help)."""
    _monitor(log, "s5", code=0)
    (state,) = (log / "s5").glob("monitor-*.json")
    state.write_text("{}")
    res = _monitor(log, "s5", code=2)
    assert res.stderr.startswith(f"error: s5/{state.name}: corrupt monitor state (KeyError: "
                                 "'checkpoint'): restore it from a copy, or delete it"), res.stderr


def test_misbehaviour_names_evidence_a_third_party_can_check(log: Path) -> None:
    """A bundle whose entry is not the tree's leaf: the evidence holds the tree's leaf hash
    with its inclusion proof (only the bundle and the checkpoint were kept, and nothing tied
    the leaf to the root), and the text output names the files (only --json did)."""
    from tlog.checkpoint import parse_checkpoint
    from tlog.merkle import check_inclusion

    shutil.copytree(log / "public", log / "bad")
    bundle = log / "bad" / "tile" / "entries" / "000.p" / "2"
    data = bytearray(bundle.read_bytes())
    data[-3] ^= 1
    bundle.write_bytes(bytes(data))
    res = tlog(log, "monitor", "--log", "bad", "--vkey", "log.pub", "--state", "s6", code=5)
    lines = res.stdout.splitlines()
    assert lines[0].startswith("misbehaviour: entry 1: ")
    assert lines[1].startswith("  evidence: ") and lines[1].endswith(
        "(keep these: anyone can check them with the log's key)")
    files = lines[1].removeprefix("  evidence: ").split(" (keep")[0].split()
    (proof_file,) = [f for f in files if f.endswith("leaf-1.proof.json")]
    proof = json.loads((log / proof_file).read_text())
    (served,) = [f for f in files if f.endswith("served.checkpoint")]
    cp = parse_checkpoint((log / served).read_text().split("\n\n")[0] + "\n")
    check_inclusion([bytes.fromhex(h) for h in proof["inclusion_proof"]], 1, cp.size,
                    bytes.fromhex(proof["leaf_hash"]), cp.root_hash)
