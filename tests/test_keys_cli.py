"""`tlog keygen`: key files, modes, refusals, and clean errors (in-process and as a process)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tlog.cli import cli
from tlog.cosignature import parse_any_verifier
from tlog.errors import ConfigError
from tlog.note import new_signer, new_verifier


def test_keygen_writes_a_matching_pair(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["keygen", "example.com/log", "--out", str(tmp_path / "k"),
                                   "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    skey = (tmp_path / "k.key").read_text().strip()
    vkey = (tmp_path / "k.pub").read_text().strip()
    assert out["vkey"] == vkey == new_signer(skey).verifier().vkey
    assert new_verifier(vkey).name == "example.com/log"
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    again = CliRunner().invoke(cli, ["keygen", "example.com/log", "--out", str(tmp_path / "k")])
    # The group raises the typed error; `tlog.cli.main` turns it into one line (tested below).
    assert isinstance(again.exception, ConfigError) and "exists" in str(again.exception)
    assert (tmp_path / "k.key").read_text().strip() == skey  # not overwritten


def test_witness_keys_have_one_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # it writes witness.toml here
    res = CliRunner().invoke(cli, ["witness", "keygen", "w.example/w1", "--out",
                                   str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    v = parse_any_verifier((tmp_path / "w.pub").read_text())
    assert v.key_id and (tmp_path / "w.pub").read_text().startswith("w.example/w1+")
    assert type(v).__name__ == "CosignatureVerifier"
    old = CliRunner().invoke(cli, ["keygen", "w.example/w2", "--witness", "--out",
                                   str(tmp_path / "w2")])
    assert isinstance(old.exception, ConfigError) and "tlog witness keygen" in str(old.exception)
    assert not (tmp_path / "w2.key").exists()


def test_bad_name_is_one_line_without_traceback(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "tlog.cli", "keygen", "bad name", "--out",
                          str(tmp_path / "x")], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: name: key name 'bad name' must be non-empty, without '+' or spaces"]
    assert not (tmp_path / "x.key").exists()
