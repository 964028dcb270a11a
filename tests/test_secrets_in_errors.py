"""No error echoes key material (issue 18 item 8): a private key passed where a verifier key
is expected (`--vkey` as a string or a file, `witness add-log --vkey`) is refused in one
line that names the mistake and shows none of the key's bytes, which would land in CI logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def tlog(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("how", ["string", "file", "witness"])
def test_a_private_key_given_as_vkey_is_not_echoed(tmp_path: Path, how: str) -> None:
    assert tlog(tmp_path, "keygen", "a.example/log", "--out", "log").returncode == 0
    skey = (tmp_path / "log.key").read_text().strip()
    (tmp_path / "copy.pub").write_text(skey + "\n")  # the wrong file, as it happens
    if how == "witness":
        assert tlog(tmp_path, "witness", "keygen", "w.example/w", "--out", "wkey"
                    ).returncode == 0
        res = tlog(tmp_path, "witness", "add-log", "--origin", "a.example/log",
                   "--vkey", "copy.pub")
    else:
        res = tlog(tmp_path, "verify", "--log", str(tmp_path), "--index", "0", "--vkey",
                   skey if how == "string" else "copy.pub")
    assert res.returncode == 2, res.stderr
    assert "private (signer) key, not a verifier key" in res.stderr
    secret = skey.split("+", 4)[4]  # base64 may hold "+" itself
    for part in (secret, secret[:12], secret[-12:]):
        assert part not in res.stderr + res.stdout
    assert "Traceback" not in res.stderr
