"""scripts/verify_inclusion.py: one file, standard library + cryptography, run as a user would
(a subprocess, in isolated mode, from a folder holding only the script) against a log on a
loopback static HTTP server."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from loglib import TestLog, synthetic_entries
from servers import StaticServer, free_port

from tlog.merkle import leaf_hash
from tlog.note import generate_key

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "verify_inclusion.py"


@pytest.fixture
def served(static_server: StaticServer, tmp_path: Path) -> tuple[StaticServer, TestLog, Path]:
    log = TestLog(static_server.root)
    log.append(synthetic_entries(1000))
    log.publish()
    home = tmp_path / "user"
    home.mkdir()
    shutil.copy(SCRIPT, home / "verify_inclusion.py")
    return static_server, log, home


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "verify_inclusion.py", *args], cwd=home,
                          capture_output=True, text=True, timeout=60)


def test_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(SCRIPT.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert "cryptography" in roots and "tlog" not in roots
    assert roots - {"cryptography"} <= set(sys.stdlib_module_names), roots


def test_verifies_by_index_leaf_hash_and_entry(served: tuple) -> None:
    server, log, home = served
    server.reset()
    r = run(home, server.url, log.vkey, "--index", "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"OK: entry 5 (leaf hash {leaf_hash(b'entry 5').hex()}) is in "
                               "the log at tree size 1000")
    # checkpoint, tile/0/000, tile/1/000.p/3, tile/0/003.p/232, tile/entries/000
    assert sum(server.requests.values()) == 5 and "(5 requests)" in r.stdout
    r = run(home, server.url, log.vkey, "--leaf-hash", leaf_hash(b"entry 777").hex())
    assert r.returncode == 0 and r.stdout.startswith("OK: entry 777 "), r.stderr
    (home / "entry.bin").write_bytes(b"entry 999")
    (home / "log.pub").write_text(log.vkey + "\n")
    r = run(home, server.url, "log.pub", "--entry", "entry.bin")
    assert r.returncode == 0 and r.stdout.startswith("OK: entry 999 "), r.stderr


def test_not_in_the_log(served: tuple) -> None:
    server, log, home = served
    r = run(home, server.url, log.vkey, "--index", "1000")
    assert r.returncode == 3 and "FAILED: entry 1000 is not in the log (tree size 1000)" in r.stderr
    r = run(home, server.url, log.vkey, "--leaf-hash", leaf_hash(b"nope").hex())
    assert r.returncode == 3 and "FAILED: no entry with leaf hash" in r.stderr
    assert "(according to its index, which this script cannot check" in r.stderr


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("key", "offset", "message"),
    [
        ("tile/0/000", 4 * 32, "inclusion proof for entry 5 does not lead to the signed root"),
        ("tile/1/000.p/3", 40, "inclusion proof for entry 5 does not lead to the signed root"),
        ("tile/entries/000", 2 + 7 + 2 + 7 + 2 + 7 + 2 + 7 + 2 + 7 + 2 + 3,
         "inclusion proof for entry 5 does not lead to the signed root"),
        ("checkpoint", 25, "checkpoint: invalid signature by example.com/testlog"),
    ],
)
def test_tampering_fails(served: tuple, key: str, offset: int, message: str) -> None:
    server, log, home = served
    _flip(server.root / key, offset)
    r = run(home, server.url, log.vkey, "--index", "5")
    assert r.returncode == 3 and f"FAILED: {message}" in r.stderr, r.stderr


def test_malformed_bundle_and_wrong_key(served: tuple, tmp_path: Path) -> None:
    server, log, home = served
    p = server.root / "tile/entries/000"
    p.write_bytes(p.read_bytes()[:-1])
    r = run(home, server.url, log.vkey, "--index", "5")
    assert r.returncode == 3 and "tile/entries/000: malformed entry bundle" in r.stderr
    other = TestLog(tmp_path / "other")
    r = run(home, server.url, other.vkey, "--index", "5")
    assert r.returncode == 3 and "checkpoint: no signature by the log key" in r.stderr


def test_partial_tiles_replaced_by_full_ones(served: tuple) -> None:
    server, log, home = served
    stale = (server.root / "checkpoint").read_bytes()
    log.append(synthetic_entries(300, 1000))
    log.publish()
    log.prune_partials()
    (server.root / "checkpoint").write_bytes(stale)
    r = run(home, server.url, log.vkey, "--index", "999")
    assert r.returncode == 0, r.stderr
    assert server.requests["tile/entries/003.p/232"] == 1 and server.requests["tile/entries/003"]


def test_bad_arguments_and_unreachable_log(served: tuple) -> None:
    server, log, home = served
    r = run(home, server.url, "not a key", "--index", "1")
    assert r.returncode == 2 and "error: verifier key" in r.stderr
    r = run(home, server.url, log.vkey)
    assert r.returncode == 2  # argparse: one of --index/--leaf-hash/--entry is required
    r = run(home, f"http://127.0.0.1:{free_port()}", log.vkey, "--index", "1")
    assert r.returncode == 1 and "error: cannot read the log: checkpoint" in r.stderr


def test_a_large_index_level_is_one_range_request(tmp_path: Path) -> None:
    """A leaf hash looked up in a level of over 4,096 records: one range request of the block
    its fence keys leave (it was a binary search of one request per probe), the entry found
    and proven."""
    log = TestLog(tmp_path / "log")
    log.append(synthetic_entries(70_000))
    log.publish()
    manifest = json.loads((tmp_path / "log" / "index/manifest/70000").read_bytes())
    leaf = leaf_hash(b"entry 41234")
    (ref,) = [r for r in manifest["levels"][leaf[0] >> 4] if r]
    assert ref["records"] > 4096 and ref["fences"]
    home = tmp_path / "user"
    home.mkdir()
    shutil.copy(SCRIPT, home / "verify_inclusion.py")
    with StaticServer(tmp_path / "log") as server:
        r = run(home, server.url, log.vkey, "--leaf-hash", leaf.hex())
        assert r.returncode == 0 and r.stdout.startswith("OK: entry 41234 "), r.stderr
        assert server.requests[ref["path"]] == 1
        assert server.sent[ref["path"]] <= 2 * ref["stride"] * ref["record"]


def _manifest(ref: dict) -> bytes:
    return json.dumps({"version": 2, "size": 1000, "t1": 1, "t2": 2,
                       "levels": [[ref, None, None]] * 16}).encode()


@pytest.mark.parametrize(("manifest", "says"), [
    (b"[" * 200_000, "malformed (nested too deeply)"),
    (_manifest({"path": "index/manifest", "records": 1, "record": 13}),
     "no entry with leaf hash"),  # a folder where a level object should be
    (_manifest({"path": "index/1/0/1", "records": 1e300, "record": 13}), "malformed"),
    (_manifest({"path": "index/1/0/1", "records": 1 << 60, "record": 13}), "malformed"),
])
def test_a_hostile_manifest_is_a_one_line_answer(served: tuple, manifest: bytes,
                                                 says: str) -> None:
    """What a log serves as its index manifest cannot make the script print a traceback or
    make millions of requests: too deep, a folder for a level object, absurd counts."""
    server, log, home = served
    (server.root / "index/manifest/1000").write_bytes(manifest)
    r = run(home, str(server.root), log.vkey, "--leaf-hash", leaf_hash(b"nope").hex())
    assert r.returncode == 3 and says in r.stdout + r.stderr, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr


def test_a_server_that_compresses_is_read_whole(served: tuple) -> None:
    """A server (a CDN) that gzips what it sends: tiles, bundles, the manifest and the index's
    small objects inflate to exactly their bytes, so an honest log verifies (gzipped random
    hashes are larger than the tile, which a bound on the compressed bytes cut short)."""
    server, log, home = served
    with StaticServer(server.root, gzip=True) as zipped:
        for args in (["--index", "5"], ["--leaf-hash", leaf_hash(b"entry 777").hex()]):
            r = run(home, zipped.url, log.vkey, *args)
            assert r.returncode == 0 and r.stdout.startswith("OK: entry "), r.stderr


def test_the_scripts_own_mistakes_and_a_redirect_loop(tmp_path: Path) -> None:
    """A negative --index is bad input (2, it was "FAILED … not in the log", 3); a server
    redirecting in a loop is one no honest log is (3, it was "cannot read the log", 1); a
    Python without cryptography gets one line saying to install it (it was a traceback)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    _, vkey = generate_key("script.example/log")
    res = subprocess.run([sys.executable, "-I", str(SCRIPT), str(tmp_path), vkey, "--index",
                          "-1"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--index: an entry's index is 0 or more" in res.stderr

    class Loop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Loop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        res = subprocess.run([sys.executable, "-I", str(SCRIPT),
                              f"http://127.0.0.1:{server.server_port}", vkey, "--index", "1"],
                             capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
    assert res.returncode == 3 and "redirected in a loop" in res.stderr, res.stderr
    bare = tmp_path / "bare"  # a Python that finds no cryptography: -I and a path without it
    bare.mkdir()
    (bare / "cryptography").mkdir()
    (bare / "cryptography" / "__init__.py").write_text("raise ImportError('not installed')\n")
    res = subprocess.run([sys.executable, "-c", "import runpy, sys; sys.path.insert(0, "
                          f"{str(bare)!r}); sys.argv = ['verify_inclusion.py', '.', {vkey!r}, "
                          f"'--index', '0']; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr == (
        "error: this script needs the cryptography package (Ed25519): python3 -m pip install "
        "cryptography\n"), res.stderr
