"""Every client command takes the log's key as a string or as the file holding it (issue 17,
client conventions): `search` and `monitor` used to refuse a file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from loglib import TestLog
from submissions import hashedrekord_docs

from tlog.entries import admit

BIN = Path(sys.executable).parent
COMMANDS = {
    "get": ["--index", "0", "--state", "trust"],
    "verify": ["--index", "0", "--state", "trust"],
    "bundle": ["--index", "0", "-o", "b.json", "--state", "trust"],
    "consistency": ["--state", "trust"],
    "search": ["--digest", "sha256:" + "ab" * 32, "--cache-dir", "cache"],
    "monitor": ["--state", "mon"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_vkey_file_works_everywhere(tmp_path: Path, command: str) -> None:
    log = TestLog(tmp_path / "log", origin="files.example/log")
    log.append([admit(doc).entry for _, doc in hashedrekord_docs(20, seed=5)])
    log.publish()
    (tmp_path / "log.pub").write_text(log.vkey + "\n")
    for vkey in (log.vkey, "log.pub"):
        res = subprocess.run([str(BIN / "tlog"), command, "--log", str(tmp_path / "log"),
                              "--vkey", vkey, *COMMANDS[command]], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, (vkey, res.stdout + res.stderr)
