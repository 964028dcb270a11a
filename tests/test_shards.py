"""A log's year end, as its operator and the people who follow it meet it: a new shard beside
the frozen one, keys and origins that must not be mixed up (README: Key rotation, A new
shard)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from submissions import hashedrekord_docs

BIN = Path(sys.executable).parent


def tlog(cwd: Path, *args: str, code: int | None = 0, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                         timeout=120, env={**os.environ, **(env or {})})
    if code is not None:
        assert res.returncode == code, (args, res.stdout, res.stderr)
    return res


def _shard(work: Path, origin: str, key: str, seed: int) -> None:
    """A folder log ``public-<origin's last part>`` signed by ``key``, with 3 entries."""
    name = origin.rsplit("/", 1)[1]
    tlog(work, "init", "--store", f"public-{name}", "--queue", f"queue-{name}", "--origin",
         origin, "--key", f"{key}.key", "--config", f"{name}.toml")
    docs = work / f"docs-{name}.jsonl"
    docs.write_bytes(b"\n".join(d for _, d in hashedrekord_docs(3, seed=seed)))
    tlog(work, "submit", "--queue", f"queue-{name}", "--jsonl", str(docs))
    tlog(work, "sequence", "--config", f"{name}.toml")


def test_two_logs_that_share_a_key_are_two_logs_to_a_monitor(tmp_path: Path) -> None:
    """A new shard started with the old shard's key: the monitor kept one state per key, so
    the new shard's first checkpoint read as a 'rollback' of the old one (exit 5, with the old
    log's own tile as 'evidence'), and it took any origin the key signed. The origin is now
    checked (the key's name unless --origin), and each log has its state."""
    tlog(tmp_path, "keygen", "example.com/log2026", "--out", "k2026")
    _shard(tmp_path, "example.com/log2026", "k2026", 1)
    _shard(tmp_path, "example.com/log2027", "k2026", 2)  # init warns; the key is reused
    args = ["monitor", "--vkey", "k2026.pub", "--state", "mon"]
    tlog(tmp_path, *args, "--log", "public-log2026")
    res = tlog(tmp_path, *args, "--log", "public-log2027", code=3)
    assert res.stderr.strip() == (
        "error: checkpoint: origin is 'example.com/log2027', expected 'example.com/log2026' "
        "(the key's name unless --origin says otherwise): another log, signed by the same key")
    tlog(tmp_path, *args, "--log", "public-log2027", "--origin", "example.com/log2027")
    again = tlog(tmp_path, *args, "--log", "public-log2026")
    assert "checked 0 new entries up to size 3" in again.stderr, again.stderr
    assert not list((tmp_path / "mon").glob("evidence-*"))
    assert len(list((tmp_path / "mon").glob("monitor-*.json"))) == 2


def test_the_wrong_shards_key_is_named(tmp_path: Path) -> None:
    """Verifying with the other shard's key said "note has no verifiable signature by a known
    key", naming neither key: it now names who signed and what was given."""
    tlog(tmp_path, "keygen", "example.com/log2026", "--out", "k2026")
    tlog(tmp_path, "keygen", "example.com/log2027", "--out", "k2027")
    _shard(tmp_path, "example.com/log2026", "k2026", 1)
    key_2026 = (tmp_path / "k2026.pub").read_text().split("+")[1]
    key_2027 = (tmp_path / "k2027.pub").read_text().split("+")[1]
    for cmd in (["verify", "--index", "0", "--state", "t"], ["monitor", "--state", "m"]):
        res = tlog(tmp_path, *cmd, "--log", "public-log2026", "--vkey", "k2027.pub", code=3)
        assert (f"note has no verifiable signature by a known key: signed by "
                f"example.com/log2026+{key_2026}, not by any key given (example.com/log2027+"
                f"{key_2027})") in res.stderr, res.stderr


def test_a_client_configs_origin_stays_with_its_key(tmp_path: Path) -> None:
    """client.toml names the 2026 shard (log, key, origin); a command given the 2027 shard's
    --log and --vkey (or $TLOG_LOG and $TLOG_VKEY) was held to the 2026 origin, exit 3, naming
    no file. The config's origin now goes with the config's key only."""
    tlog(tmp_path, "keygen", "example.com/log2026", "--out", "k2026")
    tlog(tmp_path, "keygen", "example.com/log2027", "--out", "k2027")
    _shard(tmp_path, "example.com/log2026", "k2026", 1)
    _shard(tmp_path, "example.com/log2027", "k2027", 2)
    config = tmp_path / "client.toml"
    config.write_text(f'log = "{tmp_path / "public-log2026"}"\nvkey = "'
                      f'{(tmp_path / "k2026.pub").read_text().strip()}"\n'
                      'origin = "example.com/log2026"\n')
    env = {"TLOG_CLIENT_CONFIG": str(config)}
    tlog(tmp_path, "verify", "--index", "0", "--state", "a", env=env)  # the config's own log
    res = tlog(tmp_path, "verify", "--index", "0", "--state", "b", "--log", "public-log2027",
               "--vkey", "k2027.pub", "--json", env=env)
    assert json.loads(res.stdout)["checkpoint"]["origin"] == "example.com/log2027"
    tlog(tmp_path, "verify", "--index", "0", "--state", "c", env={
        **env, "TLOG_LOG": str(tmp_path / "public-log2027"),
        "TLOG_VKEY": (tmp_path / "k2027.pub").read_text().strip()})
    # A log given without its key is still held to the config's (key and origin): exit 3.
    tlog(tmp_path, "verify", "--index", "0", "--state", "d", "--log", "public-log2027",
         env=env, code=3)


def test_a_monitor_state_of_an_earlier_version_is_still_this_logs(tmp_path: Path) -> None:
    """Earlier versions kept one monitor state per key. A log whose origin is not its key's
    name has its state under another file name now: the earlier file is still read when it
    holds this log's checkpoint (it was ignored, and the monitor trusted a fork as first seen,
    exit 0); one holding another log's checkpoint is named, exit 2 (it was exit 3, blaming the
    log)."""
    import shutil

    from tlog.client.monitor import Monitor
    from tlog.storage import open_store

    tlog(tmp_path, "keygen", "mylogkey", "--out", "k")
    _shard(tmp_path, "example.com/log", "k", 1)  # init warns: the key's name differs
    vkey = (tmp_path / "k.pub").read_text().strip()
    tlog(tmp_path, "monitor", "--log", "public-log", "--vkey", "k.pub", "--origin",
         "example.com/log", "--state", "mon")
    (now,) = (tmp_path / "mon").glob("monitor-*.json")
    mon = Monitor(open_store(str(tmp_path / "public-log")), vkey, tmp_path / "mon",
                  origin="example.com/log")
    assert now == mon._state_file()
    now.rename(mon._state_file(by_key=True))  # as an earlier version named it
    fork = tmp_path / "fork"
    fork.mkdir()
    shutil.copy(tmp_path / "k.key", fork / "k.key")
    _shard(fork, "example.com/log", "k", 9)  # the same key and origin, other entries
    res = tlog(tmp_path, "monitor", "--log", str(fork / "public-log"), "--vkey", "k.pub",
               "--origin", "example.com/log", "--state", "mon", code=5)
    assert "misbehaviour: fork: two different trees of size 3" in res.stdout, res.stdout
    # The summary does not call the refused tree checked "up to size 3" (it did).
    assert res.stderr.strip().endswith("checked 0 new entries of the tree of size 3; the log "
                                       "misbehaved, so the state is kept at size 3"), res.stderr
    # A state file of the key's name holding another origin's checkpoint: said, exit 2.
    tlog(tmp_path, "keygen", "example.com/log2026", "--out", "k2026")
    _shard(tmp_path, "example.com/log2026", "k2026", 2)
    _shard(tmp_path, "example.com/log2027", "k2026", 3)
    tlog(tmp_path, "monitor", "--log", "public-log2027", "--vkey", "k2026.pub", "--origin",
         "example.com/log2027", "--state", "mon2")
    (only,) = (tmp_path / "mon2").glob("monitor-*.json")
    mon = Monitor(open_store(str(tmp_path / "public-log2027")), (
        tmp_path / "k2026.pub").read_text().strip(), tmp_path / "mon2")
    only.rename(mon._state_file())  # the file an earlier version used for the key's name
    res = tlog(tmp_path, "monitor", "--log", "public-log2026", "--vkey", "k2026.pub",
               "--state", "mon2", code=2)
    assert res.stderr.startswith(f"error: mon2/{mon._state_file().name}: the monitor state "
                                 "holds a checkpoint of 'example.com/log2027', not of "
                                 "'example.com/log2026'"), res.stderr


def test_a_client_configs_origin_without_a_key_still_applies(tmp_path: Path) -> None:
    """client.toml with an origin and no key (the key given each time): its origin applies."""
    tlog(tmp_path, "keygen", "mylogkey", "--out", "k")
    _shard(tmp_path, "example.com/log", "k", 1)
    config = tmp_path / "client.toml"
    config.write_text(f'log = "{tmp_path / "public-log"}"\norigin = "example.com/log"\n')
    env = {"TLOG_CLIENT_CONFIG": str(config), "TLOG_VKEY": (tmp_path / "k.pub").read_text()}
    tlog(tmp_path, "verify", "--index", "0", "--state", "a", env=env)
