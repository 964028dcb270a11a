"""A witness operator's year, through the CLI: a lost state, a stop and a copy of the state, a
rotated key, a fork to show, and the mistakes an operator makes in witness.toml and add-log.
Each is what `tlog witness` says and refuses, with real servers on loopback."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

from servers import free_port, witness_server
from test_witness_e2e import BIN, _make_witness, _ok, _queue, tlog

ORIGIN = "e2e.example/log"


def _one_line(res: subprocess.CompletedProcess[str], code: int) -> str:
    assert res.returncode == code, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if not ln.startswith(("warning:", "note:"))]
    assert len(lines) == 1, res.stderr
    return lines[0]


def _log_with_witness(tmp: Path) -> tuple[Path, Path, int]:
    """A folder log that requires the cosignature of one witness (not started): the witness's
    config, its .pub, and the port the log calls it on."""
    _ok(tlog(tmp, "keygen", ORIGIN, "--out", "log"))
    _ok(tlog(tmp, "init", "--store", "public", "--queue", "queue", "--origin", ORIGIN, "--key",
             "log.key"))
    cfg, _ = _make_witness(tmp, "witness.example/w1", tmp / "log.pub")
    port = free_port()
    _ok(tlog(tmp, "config", "add-witness", "--url", f"http://127.0.0.1:{port}", "--vkey",
             str(cfg.parent / "key.pub"), "--threshold", "1", "--require"))
    return cfg, cfg.parent / "key.pub", port


def _sizes(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT origin, size FROM logs").fetchall())


def test_a_lost_state_is_refused_not_started_afresh(tmp_path: Path) -> None:
    """A witness that has cosigned size 5 and lost its state (deleted, or an empty file) must
    not start afresh: with an empty state the same key cosigned a smaller tree (exit 0,
    "following 0 log(s)"). `serve` and `add-log` refuse, naming the state and what to do;
    `new-state` makes one only when told the key never cosigned."""
    cfg, _, port = _log_with_witness(tmp_path)
    with witness_server(cfg, port=port):
        _queue(tmp_path, 1)
        _ok(tlog(tmp_path, "sequence"))
    wdir, db = cfg.parent, cfg.parent / "key.db"
    assert _sizes(db) == {ORIGIN: 5}
    for lose in (db.unlink, lambda: db.write_bytes(b"")):
        lose()
        for args in (["serve", "--listen", f"127.0.0.1:{free_port()}"],
                     ["add-log", "--origin", ORIGIN, "--vkey", str(tmp_path / "log.pub")]):
            res = subprocess.run([str(BIN / "tlog"), "witness", *args],
                                 cwd=wdir, capture_output=True, text=True, timeout=30)
            line = _one_line(res, 2)
            assert line.startswith("error: witness.toml: state: key.db does not exist or is "
                                   "empty. A witness whose state is lost must not cosign with "
                                   "the same key again"), line
            assert "tlog witness new-state" in line
    declined = subprocess.run([str(BIN / "tlog"), "witness", "new-state"],
                              cwd=wdir, input="n\n", capture_output=True, text=True, timeout=30)
    assert declined.returncode == 2, declined.stderr
    assert declined.stderr.startswith("start an empty state key.db for witness.example/w1+")
    assert "(only if this key has never cosigned a checkpoint) [y/N]: " in declined.stderr
    assert declined.stderr.endswith("error: not confirmed: no state made (--yes skips the "
                                    "question)\n")
    assert db.stat().st_size == 0
    _ok(tlog(wdir, "witness", "new-state", "--yes"))
    assert _one_line(tlog(wdir, "witness", "new-state", "--yes"), 2).endswith(
        "key.db exists already; it is kept")


def test_a_stopped_witness_leaves_its_whole_state_in_its_file(tmp_path: Path) -> None:
    """After a clean stop the state file alone is the whole state: a copy of `key.db` (what an
    operator moving the witness copies) said size 0 where the witness had cosigned 5, the
    rest being in `key.db-wal`; a witness started on that copy cosigns a smaller tree."""
    cfg, _, port = _log_with_witness(tmp_path)
    with witness_server(cfg, port=port):
        _queue(tmp_path, 1)
        _ok(tlog(tmp_path, "sequence"))
    copy = tmp_path / "copy.db"
    shutil.copyfile(cfg.parent / "key.db", copy)
    assert _sizes(copy) == {ORIGIN: 5}


def test_a_rotated_witness_key_is_named_by_the_log_and_the_verifier(tmp_path: Path) -> None:
    """The witness rotates its key: its start says the logs and verifiers must list the new
    one; a log still configured with the old one says which key the witness signed with (it
    said "returned no valid cosignature"), and so does `tlog verify` given the old key (it
    said "got 0"). `tlog config add-witness` with the new key (same name) mends the log."""
    cfg, old_pub, port = _log_with_witness(tmp_path)
    wdir = cfg.parent
    with witness_server(cfg, port=port):
        _queue(tmp_path, 1)
        _ok(tlog(tmp_path, "sequence"))
    _ok(tlog(wdir, "witness", "keygen", "witness.example/w1", "--out", "key2"))
    cfg.write_text(cfg.read_text().replace('key_file = "key.key"', 'key_file = "key2.key"'))
    old_id = old_pub.read_text().split("+")[1]
    new_id = (wdir / "key2.pub").read_text().split("+")[1]
    log = tmp_path / "witness.log"
    with witness_server(cfg, port=port, log=log):
        _queue(tmp_path, 2)
        res = tlog(tmp_path, "sequence")
        assert res.returncode == 4, res.stderr
        assert (f"witness witness.example/w1 returned no valid cosignature: it signed with key "
                f"{new_id}, not the configured {old_id}") in res.stderr, res.stderr
        _ok(tlog(tmp_path, "config", "add-witness", "--url", f"http://127.0.0.1:{port}",
                 "--vkey", str(wdir / "key2.pub")))
        _ok(tlog(tmp_path, "sequence"))
    assert f"served before with {old_pub.read_text().strip()}" in log.read_text()
    res = tlog(tmp_path, "verify", "--log", "public", "--vkey", "log.pub", "--index", "7",
               "--state", "trust-old", "--witness", str(old_pub), "--witness-threshold", "1")
    line = _one_line(res, 3)
    assert (f"need 1 witness cosignatures, got 0 (witnesses: witness.example/w1); the "
            f"checkpoint has a line in the name of witness.example/w1 by key {new_id} (given: "
            f"{old_id}), not checked: no key was given for it") in line, line
    _ok(tlog(tmp_path, "verify", "--log", "public", "--vkey", "log.pub", "--index", "7",
             "--state", "trust-new", "--witness", str(wdir / "key2.pub"),
             "--witness-threshold", "1"))


def test_a_retired_witness_is_removed_from_the_log_config(tmp_path: Path) -> None:
    """`tlog config remove-witness` (there was none: a renamed witness stayed in tlog.toml,
    warned about on every run, until the file was edited by hand); it will not leave a
    threshold no witness list can meet."""
    _log_with_witness(tmp_path)
    line = _one_line(tlog(tmp_path, "config", "remove-witness", "witness.example/w9"), 2)
    assert line == ("error: tlog.toml: no witness named 'witness.example/w9' (configured: "
                    "witness.example/w1)")
    line = _one_line(tlog(tmp_path, "config", "remove-witness", "witness.example/w1"), 2)
    assert "policy.witness_threshold 1 would be more than the 0 witnesses left" in line
    text = (tmp_path / "tlog.toml").read_text()
    (tmp_path / "tlog.toml").write_text(text.replace("witness_threshold = 1",
                                                     "witness_threshold = 0"))
    res = tlog(tmp_path, "config", "remove-witness", "witness.example/w1", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["witnesses"] == []
    assert "[[witnesses]]" not in (tmp_path / "tlog.toml").read_text()


def test_add_log_refuses_what_can_never_be_cosigned(tmp_path: Path) -> None:
    """An origin that cannot be a checkpoint's first line, or a witness's key given as the
    log's, was "following …", exit 0, and never cosigned anything."""
    _ok(tlog(tmp_path, "keygen", ORIGIN, "--out", "log"))
    cfg, _ = _make_witness(tmp_path, "witness.example/w1", tmp_path / "log.pub")
    wdir = cfg.parent
    for origin in ("", " ", "a\nb"):
        line = _one_line(tlog(wdir, "witness", "add-log", "--origin", origin, "--vkey",
                              str(tmp_path / "log.pub")), 2)
        assert line == (f"error: --origin: {origin!r} cannot be a checkpoint's first line "
                        "(give the log's origin, such as example.com/log)")
    line = _one_line(tlog(wdir, "witness", "add-log", "--origin", "example.net/log", "--vkey",
                          "key.pub"), 2)
    assert line.startswith("error: --vkey: witness.example/w1 is a witness's cosignature key, "
                           "not a log's")
    assert _sizes(wdir / "key.db") == {ORIGIN: 0}


def test_a_key_file_that_is_not_the_witness_key_is_named(tmp_path: Path) -> None:
    """key_file naming the .pub, or the log's own key: the error names the config, the file
    and what to give (it was "skey: expected 5 '+'-separated fields")."""
    _ok(tlog(tmp_path, "keygen", ORIGIN, "--out", "log"))
    cfg, _ = _make_witness(tmp_path, "witness.example/w1", tmp_path / "log.pub")
    shutil.copy(tmp_path / "log.key", cfg.parent / "log.key")
    for key_file, why in (("key.pub", "a verifier (public) key: give the .key file `tlog "
                                      "witness keygen` wrote"),
                          ("log.key", "a log's signing key, not a witness's: make the "
                                      "witness's own with `tlog witness keygen NAME --out "
                                      "PREFIX`")):
        cfg.write_text(f'key_file = "{key_file}"\nstate = "key.db"\n')
        line = _one_line(tlog(cfg.parent, "witness", "serve"), 2)
        assert line == (f"error: witness.toml: key_file: {key_file} is not a "
                        f"witness signer key ({why})")


def test_a_fork_is_named_and_its_evidence_can_be_read(tmp_path: Path) -> None:
    """Two trees of size 5 signed by one log key: the witness refuses the second (the log's
    run exits 4), its line names the log (it named only the size), and `tlog witness forks`
    hands out both signed notes (they were only in SQLite)."""
    cfg, _, port = _log_with_witness(tmp_path)
    fork = tmp_path / "fork"
    fork.mkdir()
    for name in ("log.key", "log.pub", "tlog.toml"):
        shutil.copy(tmp_path / name, fork / name)
    shutil.copytree(tmp_path / "public", fork / "public")
    log = tmp_path / "witness.log"
    with witness_server(cfg, port=port, log=log):
        _queue(tmp_path, 1)
        _ok(tlog(tmp_path, "sequence"))
        _queue(fork, 2)
        assert tlog(fork, "sequence").returncode == 4
        _queue(fork, 3)  # the fork grows: its proof from the witness's size 5 fails
        assert tlog(fork, "sequence").returncode == 4
    assert f"fork of {ORIGIN} detected at size 5" in log.read_text()
    # A proof that fails is no evidence for others (it is the log's), but the operator hears
    # which log it was (the line said only "POST /add-checkpoint … 422").
    assert f"refused a checkpoint of {ORIGIN}: " in log.read_text(), log.read_text()
    forks = json.loads(_ok(tlog(cfg.parent, "witness", "forks", "--json")))
    assert [(f["origin"], f["size"]) for f in forks] == [(ORIGIN, 5)]
    ours = (tmp_path / "public" / "checkpoint").read_text()
    theirs_body = forks[0]["offered_note"].split("\n\n")[0]
    assert forks[0]["cosigned_note"].split("\n\n")[0] == ours.split("\n\n")[0]
    assert theirs_body.split("\n")[:2] == [ORIGIN, "5"] and theirs_body != ours.split("\n\n")[0]
    text = _ok(tlog(cfg.parent, "witness", "forks"))
    assert text.startswith(f"fork of {ORIGIN} at size 5, detected ")


def test_a_restarted_worker_does_not_start_a_lost_state_afresh(tmp_path: Path) -> None:
    """With `workers = 2`, uvicorn restarts a worker that dies; one restarted after the state
    was lost made an empty state, silently, and the same key cosigned from size 0. The worker
    now stops the witness, which says why, exit 2 (not a restart once a second, each with a
    traceback, under a supervisor that never exits); the state file is not made again."""
    import os
    import signal
    import time

    cfg, _, port = _log_with_witness(tmp_path)
    cfg.write_text(cfg.read_text() + "workers = 2\n")
    db = cfg.parent / "key.db"
    err = tmp_path / "witness.err"
    proc = subprocess.Popen([str(BIN / "tlog"), "witness", "serve", "--config", str(cfg),
                             "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=err.open("wb"))
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            workers = [int(c) for c in children]
        assert len(workers) >= 2, workers
        for name in ("key.db", "key.db-wal", "key.db-shm"):
            (cfg.parent / name).unlink(missing_ok=True)
        os.kill(workers[0], signal.SIGKILL)
        assert proc.wait(timeout=30) == 2
        assert not db.exists() or db.stat().st_size == 0
        text = err.read_text()
        assert "Traceback" not in text, text
        assert text.rstrip().splitlines()[-1] == (
            f"error: {cfg}: state: {db} was lost while the witness served: it "
            "stopped rather than start a new one. A lost state needs a new key (tlog witness "
            "keygen, then tlog witness new-state)"), text
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def test_a_frozen_log_is_not_extended_by_whoever_holds_its_key(tmp_path: Path) -> None:
    """A log whose key leaked (or that its operator froze): whoever holds the key could extend
    it, and the witness cosigned the extension (consistent), so clients requiring it accepted
    it. `tlog witness freeze-log` makes the witness cosign nothing beyond the tree it has, at
    once in a running witness; the same tree is still cosigned."""
    import urllib.request

    cfg, _, port = _log_with_witness(tmp_path)
    thief = tmp_path / "thief"
    thief.mkdir()
    with witness_server(cfg, port=port) as url:
        _queue(tmp_path, 1)
        _ok(tlog(tmp_path, "sequence"))
        for name in ("log.key", "log.pub", "tlog.toml"):
            shutil.copy(tmp_path / name, thief / name)
        shutil.copytree(tmp_path / "public", thief / "public")
        frozen = tlog(cfg.parent, "witness", "freeze-log", "--origin", ORIGIN, "--json")
        assert json.loads(_ok(frozen))["size"] == 5
        _queue(thief, 2)
        res = tlog(thief, "sequence")
        assert res.returncode == 4, res.stderr
        assert f"this witness froze {ORIGIN} at size 5: it cosigns nothing beyond it" in (
            res.stderr), res.stderr
        assert (thief / "public" / "checkpoint").read_text().split("\n")[1] == "5"
        # The tree it froze at is still cosigned (a log or mirror asking again).
        note = (tmp_path / "public" / "checkpoint").read_text().split("\n\n")
        body = f"old 5\n\n{note[0]}\n\n" + "".join(
            line + "\n" for line in note[1].splitlines() if not line.startswith(
                "— witness.example/"))
        answer = urllib.request.urlopen(urllib.request.Request(
            f"{url}/add-checkpoint", data=body.encode(), method="POST"), timeout=10)
        assert answer.status == 200 and answer.read().startswith(b"\xe2\x80\x94 witness.")
    res = tlog(cfg.parent, "witness", "freeze-log", "--origin", "other.example/log")
    assert _one_line(res, 2).endswith("this witness does not follow 'other.example/log'")


def test_a_state_made_before_logs_could_be_frozen_still_opens(tmp_path: Path) -> None:
    """A witness state of an earlier version (no `frozen` column) is read and can be frozen."""
    from witness.state import WitnessState

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE logs (origin TEXT PRIMARY KEY, vkeys TEXT NOT NULL, size INTEGER NOT "
            "NULL, root BLOB NOT NULL, note BLOB);"
            "INSERT INTO logs VALUES ('a.example/log', 'k', 7, x'00', NULL);")
    state = WitnessState(db)
    (log,) = state.logs()
    assert (log.size, log.frozen) == (7, False)
    frozen = state.freeze("a.example/log")
    assert frozen is not None and frozen.frozen and frozen.size == 7
