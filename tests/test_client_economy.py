"""HTTP economy of one inclusion proof, counted at the server, for N = 70,000 and 1,000,000.

One verification reads the checkpoint, one entry bundle, and the hash tiles the audit path
crosses: the leaf's tile at each level it climbs, plus the right edge's partial tiles that the
path does not cross. With L = ceil(log256 N) levels that is L tiles for an entry on the right
edge, and at most 2L - 1 otherwise (the right edge of a tree of N has at most L - 1 partial
tiles off the path). A second verification finds every full tile and full bundle in the disk
cache, and fetches only the checkpoint and the (mutable-size) partial tiles again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from loglib import TestLog, synthetic_entries
from servers import StaticServer

from tlog.client import LogClient
from tlog.client.trust import TrustStore
from tlog.storage import open_store

SIZES = (70_000, 1_000_000)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, tuple]]:
    out = {}
    with StaticServer(tmp_path_factory.mktemp("n70k")) as s70, \
            StaticServer(tmp_path_factory.mktemp("n1m")) as s1m:
        for n, server in zip(SIZES, (s70, s1m), strict=True):
            log = TestLog(server.root, index=False)
            log.append(synthetic_entries(n))
            log.publish()
            out[n] = (server, log)
        yield out


# (N, index) → the tiles the audit path reads, worked out by hand from the tree's shape:
# 70,000 = 273·256 + 112 → level 0: 273 full + 273.p/112; level 1: 000 + 001.p/17; level 2: 000.p/1.
# 1,000,000 = 3906·256 + 64 → level 0: …x003/906.p/64; level 1: 015.p/66; level 2: 000.p/15.
CASES = {
    (70_000, 5): (["tile/0/000", "tile/1/000"], ["tile/0/273.p/112", "tile/1/001.p/17"],
                  "tile/entries/000"),
    (70_000, 65_541): (["tile/0/256"],
                       ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"],
                       "tile/entries/256"),
    (70_000, 69_999): ([], ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"],
                       "tile/entries/273.p/112"),
    (1_000_000, 5): (["tile/0/000", "tile/1/000"],
                     ["tile/0/x003/906.p/64", "tile/1/015.p/66", "tile/2/000.p/15"],
                     "tile/entries/000"),
    (1_000_000, 600_000): (["tile/0/x002/343", "tile/1/009"],
                           ["tile/0/x003/906.p/64", "tile/1/015.p/66", "tile/2/000.p/15"],
                           "tile/entries/x002/343"),
    (1_000_000, 999_999): ([], ["tile/0/x003/906.p/64", "tile/1/015.p/66", "tile/2/000.p/15"],
                           "tile/entries/x003/906.p/64"),
}


@pytest.mark.parametrize(("n", "index"), sorted(CASES))
def test_requests_for_one_inclusion(
    servers: dict[int, tuple], tmp_path: Path, n: int, index: int
) -> None:
    server, log = servers[n]
    full, partial, bundle = CASES[(n, index)]
    levels = math.ceil(math.log(n, 256))

    def verify() -> None:
        store = open_store(server.url, cache_dir=str(tmp_path / "cache"))
        v = LogClient(store, log.vkey, trust=TrustStore(tmp_path / "trust")).entry(index)
        assert v.entry == b"entry %d" % index

    server.reset()
    verify()
    want = {"checkpoint": 1, bundle: 1, **{p: 1 for p in full + partial}}
    assert dict(server.requests) == want
    tiles = len(full) + len(partial)
    assert tiles <= 2 * levels - 1
    if index == n - 1:  # on the right edge: exactly one tile per level
        assert tiles == levels

    server.reset()
    verify()  # the same verifier again: full tiles and full bundles come from the disk cache
    again = {"checkpoint": 1, **{p: 1 for p in partial}}
    if ".p/" in bundle:
        again[bundle] = 1
    assert dict(server.requests) == again


def test_verify_many_shares_tiles(servers: dict[int, tuple], tmp_path: Path) -> None:
    """`tlog verify --index A-B` (issue 23 item 3): a thousand entries against one checkpoint
    read each tile and bundle once, and the command says what it cost; a second run with the
    disk cache reads only the checkpoint and the partial tiles it cannot cache."""
    import json
    import subprocess
    import sys

    server, log = servers[70_000]
    tlog = str(Path(sys.executable).parent / "tlog")

    def run() -> dict:
        res = subprocess.run([tlog, "verify", "--log", server.url, "--vkey", log.vkey,
                              "--index", "1000-1999", "--cache", str(tmp_path / "cache"),
                              "--json"], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    server.reset()
    cold = run()
    assert cold["entries"] == 1000 and len(cold["verified"]) == 1000
    assert [v["index"] for v in cold["verified"]] == list(range(1000, 2000))
    # 1000 entries span 5 bundles and 5 level-0 tiles, plus the upper levels and the edge.
    assert cold["requests"] <= 16 and cold["requests"] == server.count() - 1  # not the checkpoint
    assert cold["bytes"] < 1000 * 600
    warm = run()
    assert warm["requests"] <= 3  # the partial tiles of the right edge only


def test_verify_many_names_what_is_missing(servers: dict[int, tuple]) -> None:
    import subprocess
    import sys

    server, log = servers[70_000]
    res = subprocess.run([str(Path(sys.executable).parent / "tlog"), "verify", "--log",
                          server.url, "--vkey", log.vkey, "--index", "69998-70001"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 3 and "entry 70000" in res.stderr


def test_verify_many_on_all_cores_in_order_and_failures_named(servers: dict[int, tuple],
                                                              tmp_path: Path) -> None:
    """Thousands of indexes are proven by worker processes (tlog.client.many): every entry,
    in order, each hash checked against the one checkpoint; a tampered bundle a worker reads
    fails the command with the bundle named, as in one process."""
    import hashlib
    import json
    import subprocess
    import sys

    server, log = servers[70_000]
    tlog = str(Path(sys.executable).parent / "tlog")

    def run(cache: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tlog, "verify", "--log", server.url, "--vkey", log.vkey,
                               "--index", "60000-69999", "--cache", str(tmp_path / cache),
                               "--json"], capture_output=True, text=True, timeout=300)

    res = run("a")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert [v["index"] for v in out["verified"]] == list(range(60_000, 70_000))
    assert all(v["leaf_hash"] == hashlib.sha256(b"\0" + log.entries[v["index"]]).hexdigest()
               for v in out["verified"])
    assert out["requests"] >= 40  # what the workers read is counted too
    bundle = server.root / "tile" / "entries" / "260"
    original = bundle.read_bytes()
    try:
        bundle.write_bytes(original.replace(b"entry 66600", b"entry 66601"))
        bad = run("b")
        assert bad.returncode == 3, bad.stderr
        assert "tile/entries/260" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        bundle.write_bytes(original)
