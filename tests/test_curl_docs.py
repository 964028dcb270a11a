"""The README's "Verify with curl" section runs: its ```sh blocks, pointed at a loopback log,
give the right answers (and the signature check really fails on a forged checkpoint)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from loglib import TestLog, synthetic_entries
from servers import StaticServer

from tlog.merkle import leaf_hash

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLE_URL = "https://log.example.com"
SCRIPT_URL = re.compile(r"https://raw\.githubusercontent\.com/\S+/scripts/verify_inclusion\.py")

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("bash", "curl", "xxd", "openssl", "base64")),
    reason="needs bash, curl, xxd, openssl and base64",
)


def script(url: str, vkey: str) -> str:
    section = README.read_text().split("## Verify with curl", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) >= 6
    text = "set -euo pipefail\n" + "\n".join(blocks)
    assert EXAMPLE_URL in text and SCRIPT_URL.search(text)
    text = text.replace(EXAMPLE_URL, url)
    text = SCRIPT_URL.sub((ROOT / "scripts" / "verify_inclusion.py").as_uri(), text)
    text, n = re.subn(r"VKEY='[^']*'", f"VKEY='{vkey}'", text)
    assert n == 1
    return text


def run(tmp: Path, text: str) -> subprocess.CompletedProcess[str]:
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    # python3 must have `cryptography` for the script, as the doc says: use this interpreter's.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", text], cwd=work, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture
def served(static_server: StaticServer) -> tuple[StaticServer, TestLog]:
    log = TestLog(static_server.root, origin="example.com/log")
    log.append(synthetic_entries(1000))
    log.publish()
    return static_server, log


def test_the_documented_commands(served: tuple, tmp_path: Path) -> None:
    server, log = served
    r = run(tmp_path, script(server.url, log.vkey))
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")
    note = (server.root / "checkpoint").read_text()
    assert r.stdout.startswith(note)  # `curl checkpoint` prints it verbatim
    assert "tree size: 1000" in out
    assert f"root hash: {log.root_hash.hex()}" in out
    assert "Signature Verified Successfully" in out
    assert "hash tile: tile/0/000" in out and "entry bundle: tile/entries/000" in out
    leaf = leaf_hash(b"entry 42").hex()
    assert out.count(leaf) == 1 and f"leaf hash: {leaf}" in out  # from the tile, then the entry
    assert f"entry: {base64.b64encode(b'entry 42').decode()}" in out
    assert out[out.index(f"leaf hash: {leaf}") - 2] == leaf
    # tile/0/000 hashed up equals the first hash of level 1, printed twice in a row
    level1 = (server.root / "tile/1/000.p/3").read_bytes()[:32].hex()
    i = out.index(level1)
    assert out[i + 1] == level1
    assert any(line.startswith("OK: entry 42 ") for line in out)


def test_a_forged_checkpoint_fails_the_openssl_check(served: tuple, tmp_path: Path) -> None:
    server, log = served
    cp = server.root / "checkpoint"
    forged = hashlib.sha256(b"forged").digest()
    cp.write_text(cp.read_text().replace(base64.b64encode(log.root_hash).decode(),
                                         base64.b64encode(forged).decode()))
    r = run(tmp_path, script(server.url, log.vkey))
    assert r.returncode != 0
    assert "Signature Verified Successfully" not in r.stdout
    assert "Signature Verification Failure" in r.stdout + r.stderr


def test_partial_tiles_in_the_doc(served: tuple, tmp_path: Path) -> None:
    # Entry 999 lives in the rightmost, partial tile: the doc's path arithmetic must say so.
    server, log = served
    text = script(server.url, log.vkey).replace("\nI=42\n", "\nI=999\n")
    r = run(tmp_path, text)
    assert r.returncode == 0, r.stderr
    assert "hash tile: tile/0/003.p/232" in r.stdout
    assert f"leaf hash: {leaf_hash(b'entry 999').hex()}" in r.stdout
    assert "OK: entry 999 " in r.stdout


@pytest.mark.parametrize("index", [1000, 1023, 1024, 5000])
def test_an_index_beyond_the_tree_size_stops_with_a_message(served: tuple, tmp_path: Path,
                                                             index: int) -> None:
    """Issue 17: the recipe says the entry is beyond the tree, instead of printing the hash of
    an empty entry read from the end of a bundle."""
    server, log = served
    text = script(server.url, log.vkey).replace("\nI=42\n", f"\nI={index}\n")
    r = run(tmp_path, text)
    assert r.returncode != 0
    assert f"entry {index} is beyond the tree size 1000" in r.stderr
    assert "leaf hash:" not in r.stdout
    assert hashlib.sha256(b"\0").hexdigest() not in r.stdout
