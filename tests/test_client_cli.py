"""``tlog get / verify / bundle / consistency`` end to end, with real hashedrekord entries
served over loopback HTTP. Exit codes: 0 verified, 3 a verification failed, 2 bad input."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loglib import TestLog, synthetic_entries
from servers import StaticServer
from submissions import ed25519_key, hashedrekord_doc

from tlog.cli import main
from tlog.cosignature import generate_cosignature_key, new_cosignature_signer
from tlog.entries import admit


class CLI:
    """A served log of real entries, artifacts on disk, and a runner for ``tlog``."""

    def __init__(self, server: StaticServer, tmp: Path, capsys: pytest.CaptureFixture) -> None:
        self.server, self.tmp, self.capsys = server, tmp, capsys
        self.key, pem = ed25519_key(7)
        (tmp / "signer.pem").write_text(pem)
        self.log = TestLog(server.root)
        entries = []
        for i in range(300):
            artifact = b"release %d" % i
            entries.append(admit(hashedrekord_doc(self.key, pem, artifact)).entry)
        self.log.append(entries)
        self.log.publish()
        (tmp / "log.pub").write_text(self.log.vkey + "\n")

    def artifact(self, i: int, name: str = "a") -> list[str]:
        """Files for artifact i: the artifact, the raw Ed25519 signature of its digest, the key."""
        data = b"release %d" % i
        (self.tmp / f"{name}.bin").write_bytes(data)
        (self.tmp / f"{name}.sig").write_bytes(self.key.sign(hashlib.sha256(data).digest()))
        return ["--artifact", str(self.tmp / f"{name}.bin"), "--signature",
                str(self.tmp / f"{name}.sig"), "--public-key", str(self.tmp / "signer.pem")]

    def base(self, log: bool = True) -> list[str]:
        args = ["--vkey", str(self.tmp / "log.pub"), "--state", str(self.tmp / "state"),
                "--cache", str(self.tmp / "cache")]
        return (["--log", self.server.url] if log else []) + args

    def run(self, *args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out = self.capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def cli(static_server: StaticServer, tmp_path: Path, capsys: pytest.CaptureFixture) -> CLI:
    return CLI(static_server, tmp_path, capsys)


def test_verify_an_artifact(cli: CLI) -> None:
    code, out, err = cli.run("verify", *cli.base(), *cli.artifact(123))
    assert (code, err) == (0, "")
    assert out.startswith("verified: entry 123 (leaf hash ")
    assert "is in example.com/testlog at tree size 300" in out


def test_verify_an_artifact_that_is_not_logged(cli: CLI) -> None:
    code, _, err = cli.run("verify", *cli.base(), *cli.artifact(5000))
    assert code == 3 and err.startswith("error: no entry with leaf hash ")


def test_verify_an_artifact_whose_signature_is_wrong(cli: CLI) -> None:
    args = cli.artifact(12)
    (cli.tmp / "a.bin").write_bytes(b"release 13")  # the signature is for release 12
    code, _, err = cli.run("verify", *cli.base(), *args)
    assert code == 3 and err.startswith("error: your artifact and signature: ")


def test_verify_by_index_and_by_entry_file(cli: CLI) -> None:
    assert cli.run("verify", *cli.base(), "--index", "299")[0] == 0
    code, _, err = cli.run("verify", *cli.base(), "--index", "300")
    assert code == 3 and "entry 300 is not in the log" in err
    # `tlog get` of it: not included yet (exit 1, as --leaf-hash), not a failed check (3).
    code, _, err = cli.run("get", *cli.base(), "--index", "300")
    assert code == 1 and "entry 300 is not in the log yet" in err
    # No log there at all: "not found … try again" (1) for verify as for every command; it
    # was exit 3, which scripts read as tampering.
    code, _, err = cli.run("verify", "--log", str(cli.tmp / "nope"), *cli.base(log=False)[:2],
                           "--index", "0")
    assert code == 1 and err.startswith("error: no checkpoint at "), err
    (cli.tmp / "e.bin").write_bytes(cli.log.entries[42])
    code, out, _ = cli.run("verify", *cli.base(), "--entry", str(cli.tmp / "e.bin"))
    assert code == 0 and out.startswith("verified: entry 42 ")


def test_verify_fails_on_a_tampered_tile(cli: CLI) -> None:
    p = cli.server.root / "tile/0/000"
    data = bytearray(p.read_bytes())
    data[0] ^= 1
    p.write_bytes(bytes(data))
    code, _, err = cli.run("verify", *cli.base(), "--index", "1")
    assert code == 3
    assert err == "error: entry 1: tile/0/000: tile does not match its parent tile's hash\n"


def test_get_json_and_by_entry_hash(cli: CLI) -> None:
    code, out, _ = cli.run("get", *cli.base(), "--index", "7", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["index"] == 7 and doc["type"] == "hashedrekord" and doc["verified"] is True
    assert doc["entry"]["kind"] == "hashedrekord"
    assert doc["checkpoint"]["size"] == 300
    code, out, _ = cli.run("get", *cli.base(), "--entry-hash", doc["leaf_hash"])
    assert code == 0
    assert "index: 7\n" in out and "type: hashedrekord\n" in out and '"kind": "hashedrekord"' in out
    code, _, err = cli.run("get", *cli.base(), "--entry-hash", "abc")
    assert code == 2 and "64 hex digits" in err
    code, _, err = cli.run("get", *cli.base())
    assert code == 2 and "exactly one of --index and --leaf-hash" in err


@pytest.mark.parametrize("fmt", ["json", "tlog-proof"])
def test_bundle_then_verify_offline(cli: CLI, fmt: str) -> None:
    out_file = cli.tmp / f"b.{fmt}"
    code, _, err = cli.run("bundle", *cli.base(), "--index", "123", "-o", str(out_file),
                           "--format", fmt)
    assert code == 0 and "wrote" in err
    cli.server.httpd.shutdown()  # offline from here on
    code, out, _ = cli.run("verify", *cli.base(log=False), "--bundle", str(out_file))
    assert code == 0 and out.startswith("verified: entry 123 ") and "(offline bundle)" in out
    code, out, _ = cli.run("verify", *cli.base(log=False), "--bundle", str(out_file),
                           *cli.artifact(123))
    assert code == 0
    code, _, err = cli.run("verify", *cli.base(log=False), "--bundle", str(out_file),
                           *cli.artifact(124))
    assert code == 3 and err == "error: the bundle's entry is not the entry you hold\n"


def test_tampered_and_malformed_bundles(cli: CLI) -> None:
    f = cli.tmp / "b.json"
    assert cli.run("bundle", *cli.base(), "--index", "9", "-o", str(f))[0] == 0
    doc = json.loads(f.read_text())
    doc["index"] = 10
    f.write_text(json.dumps(doc))
    code, _, err = cli.run("verify", *cli.base(log=False), "--bundle", str(f))
    assert code == 3 and err == ("error: bundle: inclusion proof for index 10 does not match "
                                 "the root\n")
    f.write_text(json.dumps({**doc, "index": "ten"}))
    code, _, err = cli.run("verify", *cli.base(log=False), "--bundle", str(f))
    assert code == 2 and err.startswith("error: index: ")


def test_bundle_to_stdout_is_tlog_proof_text(cli: CLI) -> None:
    code, out, _ = cli.run("bundle", *cli.base(), "--index", "0", "-o", "-",
                           "--format", "tlog-proof")
    assert code == 0
    lines = out.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1].startswith("extra ")
    assert lines[2] == "index 0" and "\n\nexample.com/testlog\n300\n" in out


def test_consistency_command(cli: CLI) -> None:
    code, out, _ = cli.run("consistency", *cli.base())
    assert (code, out) == (0, "example.com/testlog: first use: now trusting tree size 300\n")
    assert cli.run("consistency", *cli.base())[1].endswith("unchanged: tree size 300\n")
    cli.log.append(synthetic_entries(10))
    cli.log.publish()
    code, out, _ = cli.run("consistency", *cli.base(), "--json")
    assert code == 0
    assert json.loads(out)["status"] == "grown" and json.loads(out)["previous_size"] == 300
    fork = TestLog(cli.tmp / "fork", skey=cli.log.skey)
    fork.append(synthetic_entries(310, tag=b"other"))
    (cli.server.root / "checkpoint").write_bytes(fork.sign())
    code, _, err = cli.run("consistency", *cli.base())
    assert code == 3 and err.startswith("error: fork: ") and "evidence: " in err
    # Where the state is, and the way out (issue 17 item 7).
    assert f"trusted state: {cli.tmp / 'state'}/" in err
    assert "report it to the log's operator" in err
    assert "`tlog trust forget example.com/testlog`" in err


def test_trust_state_is_not_a_cache_and_can_be_shown_and_forgotten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CLI) -> None:
    """Issue 17 item 6: the default trusted state lives in the user's state folder (clearing
    a cache must not reset rollback protection); an older cache-folder state moves there;
    `tlog trust show` lists it and `tlog trust forget` asks first."""
    from tlog.client.trust import default_state_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state-home"))
    legacy = tmp_path / "cache-home" / "tiledlog" / "trust" / "old-log-0123456789ab"
    legacy.mkdir(parents=True)
    (legacy / "log.json").write_text('{"origin": "old.example/log", "vkey": "old+00000000+AA"}')
    (legacy / "checkpoint").write_bytes(b"old.example/log\n7\nAAAA\n\n")
    assert default_state_dir() == tmp_path / "state-home" / "tiledlog" / "trust"
    assert (default_state_dir() / legacy.name / "checkpoint").exists()  # moved over, once
    code, out, _ = cli.run("consistency", "--log", cli.server.url, "--vkey",
                           str(cli.tmp / "log.pub"))  # the default state folder
    assert code == 0 and "first use" in out
    code, out, _ = cli.run("trust", "show", "--json")
    shown = {log["origin"]: log for log in json.loads(out)["logs"]}
    assert shown["example.com/testlog"]["size"] == 300
    assert shown["old.example/log"]["size"] == 7
    res = subprocess.run([sys.executable, "-m", "tlog.cli", "trust", "forget",
                          "example.com/testlog"], input="n\n", capture_output=True, text=True,
                         env=dict(os.environ))
    # Asked, and refused: a documented code (2, as any input that stops a command), not 130.
    assert res.returncode == 2, res.stderr
    no_answer = subprocess.run([sys.executable, "-m", "tlog.cli", "trust", "forget",
                                "example.com/testlog"], input="", capture_output=True, text=True,
                               env=dict(os.environ))
    assert no_answer.returncode == 2, no_answer.stderr
    assert res.stderr.endswith("error: not confirmed: nothing forgotten (--yes skips the "
                               "question)\n"), res.stderr
    code, out, _ = cli.run("trust", "forget", "example.com/testlog", "--yes")
    assert code == 0 and out.startswith("forgot ")
    code, out, _ = cli.run("trust", "show", "--json")
    assert [log["origin"] for log in json.loads(out)["logs"]] == ["old.example/log"]


def test_witness_options(cli: CLI) -> None:
    skey, vkey = generate_cosignature_key("witness.example")
    (cli.tmp / "w.pub").write_text(vkey)
    cli.log.publish(new_cosignature_signer(skey, time.time))
    code, out, _ = cli.run("verify", *cli.base(), "--index", "3",
                           "--witness", str(cli.tmp / "w.pub"))
    assert code == 0 and "cosigned by witness.example" in out
    _, other = generate_cosignature_key("other.example")
    code, _, err = cli.run("verify", *cli.base(), "--index", "3", "--witness", vkey,
                           "--witness", other, "--witness-threshold", "2")
    assert code == 3 and "need 2 witness cosignatures, got 1" in err


def test_usage_errors(cli: CLI) -> None:
    code, _, err = cli.run("verify", *cli.base())
    assert code == 2 and ("give --artifact/--signature/--public-key, --dsse, --link, "
                          "--submission, --entry, --index or --bundle") in err
    code, _, err = cli.run("verify", *cli.base(), "--artifact", "x")
    assert code == 2 and "go together" in err
    code, _, err = cli.run("verify", "--vkey", "not-a-key", "--log", cli.server.url, "--index", "0")
    assert code == 2 and "vkey" in err


def test_exit_code_from_the_real_command(cli: CLI) -> None:
    # The installed entry point, in a fresh process: a failed verification exits 3.
    cmd = [sys.executable, "-m", "tlog.cli", "verify", *cli.base(), "--index", "300"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and "entry 300 is not in the log" in r.stderr
    cmd[-1] = "299"
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_a_bundle_of_another_tree_size_than_the_trusted_one_says_what_was_not_checked(
        cli: CLI) -> None:
    """Offline, a bundle is checked against the trusted checkpoint only at the same size (a
    fork); of another size it carries no consistency proof, and `tlog verify --bundle` said
    nothing of it while its help promised "consistency with the last checkpoint you trusted"."""
    out_file = cli.tmp / "old.json"
    assert cli.run("bundle", *cli.base(), "--index", "5", "-o", str(out_file))[0] == 0
    cli.log.append([b"entry %d" % i for i in range(300, 400)])
    cli.log.publish()
    assert cli.run("verify", *cli.base(), "--index", "310")[0] == 0  # trusts 400 now
    code, out, err = cli.run("verify", *cli.base(log=False), "--bundle", str(out_file))
    assert code == 0 and out.startswith("verified: entry 5 "), err
    assert err == ("warning: the bundle's tree (size 300) is older than the checkpoint you "
                   "trust (size 400), and a bundle carries no proof that the two are "
                   "consistent: not checked offline (`tlog verify --index 5` with the log "
                   "checks it online)\n")


def test_search_checks_the_checkpoint_as_verify_does(cli: CLI) -> None:
    """`tlog search` takes the witness policy and the trusted state every verifier takes: it
    built its client without them, and said "inclusion proven" from a checkpoint no witness
    had cosigned, or of a fork of the tree the user trusted."""
    _, wvkey = generate_cosignature_key("witness.example")
    leaf = hashlib.sha256(b"\0" + cli.log.entries[7]).hexdigest()
    code, out, err = cli.run("search", *cli.base(), "--leaf-hash", leaf, "--witness", wvkey)
    assert code == 3 and "need 1 witness cosignatures, got 0" in err, (out, err)
    code, out, _ = cli.run("search", *cli.base(), "--leaf-hash", leaf)
    assert code == 0 and out.startswith("7\thashedrekord"), out
    # A fork of the tree the user now trusts (size 300): refused, as by `tlog verify`.
    forked = TestLog(cli.tmp / "forked", origin=cli.log.origin, skey=cli.log.skey)
    forked.append([b"other %d" % i for i in range(300)])
    forked.publish()
    code, _, err = cli.run("search", "--log", str(cli.tmp / "forked"), *cli.base(log=False),
                           "--leaf-hash", leaf)
    assert code == 3 and "fork" in err, err


def test_a_leaf_hashes_file_is_read_with_care(cli: CLI) -> None:
    """`--leaf-hashes FILE`: a binary file, an endless one (/dev/zero), a bad line and an empty
    file are each one line naming the file (and the line), exit 2; they were a
    UnicodeDecodeError traceback, a MemoryError, "Invalid value for --leaf-hash" with no line,
    and "verified 0 entries" (exit 0, having checked nothing)."""
    good = hashlib.sha256(b"\0" + cli.log.entries[3]).hexdigest()
    cases = {"binary": b"\xff\xfe\n", "bad-line": f"{good}\nnot-a-hash\n".encode(), "empty": b""}
    expected = {"binary": "line 1 is not a leaf hash", "bad-line": "line 2 is not a leaf hash",
                "empty": "no leaf hashes in it"}
    for name, data in cases.items():
        (cli.tmp / name).write_bytes(data)
        code, _, err = cli.run("verify", *cli.base(), "--leaf-hashes", str(cli.tmp / name))
        assert code == 2 and err.startswith(f"error: --leaf-hashes {cli.tmp / name}: "
                                            f"{expected[name]}"), (name, err)
    code, _, err = cli.run("verify", *cli.base(), "--leaf-hashes", "/dev/zero")
    assert code == 2 and "line 1 is too long" in err, err
    (cli.tmp / "one").write_text(good + "\n")
    code, out, _ = cli.run("verify", *cli.base(), "--leaf-hashes", str(cli.tmp / "one"))
    assert code == 0 and out.startswith("verified: entry 3 "), out


def test_a_witness_given_twice_or_the_logs_key_as_witness_is_bad_input(cli: CLI) -> None:
    """Both were "checkpoint: ambiguous key …", exit 3: a verification failure blamed on the
    log, for the user's own mistake."""
    _, wvkey = generate_cosignature_key("witness.example")
    code, _, err = cli.run("verify", *cli.base(), "--index", "3", "--witness", wvkey,
                           "--witness", wvkey)
    assert code == 2 and "the same key as another --witness" in err, err
    code, _, err = cli.run("verify", *cli.base(), "--index", "3", "--witness",
                           str(cli.tmp / "log.pub"))
    assert code == 2 and "the same key as the log's key" in err, err


def test_a_log_url_with_a_query_or_the_checkpoint_file_says_so(cli: CLI) -> None:
    """A query in the log's URL was "note signature block is empty", exit 3 (the checkpoint's
    path landed inside the query); the checkpoint's own URL was "no checkpoint at …" naming
    the prefix, not the file fetched."""
    code, _, err = cli.run("verify", "--log", cli.server.url + "/?x=1",
                           *cli.base(log=False), "--index", "1")
    assert code == 2 and "a log's URL is the prefix of its files, with no query" in err, err
    code, _, err = cli.run("verify", "--log", cli.server.url + "/checkpoint",
                           *cli.base(log=False), "--index", "1")
    assert code == 1 and "give the log's URL without /checkpoint" in err, err
