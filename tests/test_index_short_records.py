"""Short index records (8 bytes of each key): candidates, collisions and the upgrade.

A log indexed before short records (manifest version 1, 40-byte records) upgraded in place,
driven as an operator would: `tlog sequence` on a log whose index an older tiledlog wrote
finds duplicates through the old records and writes 13-byte ones beside them; the Python
client, `tlog search` and the page read both kinds in one manifest. A key that shares only
the 8 bytes a record keeps with a logged one is "not found", never "the index is broken"."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loglib import write_v1_index
from seqhelpers import enqueue, make_log, sequencer, simple_admit
from servers import StaticServer
from submissions import hashedrekord_docs
from test_site_browser import _badge, chromium, require_chromium

from tlog import index as ix
from tlog.client import LogClient
from tlog.entries import entry_search_keys
from tlog.errors import NotFoundError
from tlog.merkle import leaf_hash
from tlog.storage import open_store

BIN = Path(sys.executable).parent


def tlog(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _sequence(cwd: Path) -> dict[str, Any]:
    res = tlog(cwd, "sequence", "--config", "tlog.toml", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def _submit(cwd: Path, docs: list[bytes]) -> None:
    (cwd / "docs.jsonl").write_bytes(b"\n".join(docs))
    res = tlog(cwd, "submit", "--queue", "queue", "--jsonl", "docs.jsonl", "--json")
    assert res.returncode == 0, res.stderr


def _search(cwd: Path, vkey: str, *query: str) -> list[int]:
    res = tlog(cwd, "search", "--log", "public", "--vkey", vkey, "--json", *query)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["broken_index_candidates"] == []
    return [m["index"] for m in out["matches"]]


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A 200-entry log whose index is rewritten as version 1, kept as it is (``old``), then
    sequenced on to 300 entries with 5 of the first 200 submitted again (``root``)."""
    cwd = tmp_path_factory.mktemp("migration")
    assert tlog(cwd, "keygen", "migrate.example/log", "--out", "log").returncode == 0
    res = tlog(cwd, "init", "--store", "public", "--queue", "queue", "--origin",
               "migrate.example/log", "--key", "log.key")
    assert res.returncode == 0, res.stderr
    docs = [d for _, d in hashedrekord_docs(300, seed=11)]
    _submit(cwd, docs[:200])
    assert _sequence(cwd)["size"] == 200
    vkey = (cwd / "log.pub").read_text().strip()
    store = open_store(str(cwd / "public"))
    client = LogClient(store, vkey)
    entries = [client.entry(i).entry for i in range(200)]
    records = [(leaf_hash(e), i) for i, e in enumerate(entries)]
    records += [(ix.search_key(k), i) for i, e in enumerate(entries) for k in entry_search_keys(e)]
    old_paths = write_v1_index(store.overwrite, 200, records)
    shutil.copytree(cwd / "public", cwd / "old")
    _submit(cwd, docs[195:])  # five already logged, a hundred new
    summary = _sequence(cwd)
    fresh = LogClient(open_store(str(cwd / "public")), vkey)
    yield {"cwd": cwd, "vkey": vkey, "summary": summary, "old_paths": old_paths,
           "leaves": [leaf_hash(fresh.entry(i).entry) for i in range(300)],
           "digests": [json.loads(d)["digest"] for d in docs]}


def test_the_sequencer_upgrades_a_version_1_index_in_place(upgraded: dict[str, Any]) -> None:
    cwd, s = upgraded["cwd"], upgraded["summary"]
    # The five resubmitted entries were found through the old 40-byte records.
    assert (s["admitted"], s["duplicates"], s["size"]) == (100, 5, 300)
    doc = json.loads((cwd / "public" / ix.manifest_path(300)).read_bytes())
    assert doc["version"] == 2
    refs = [r for shard in doc["levels"] for r in shard if r]
    written = [r for r in refs if r["path"] not in upgraded["old_paths"]]
    assert written and {r["record"] for r in written} == {ix.RECORD_SIZE}
    assert {r["record"] for r in refs if r["path"] in upgraded["old_paths"]} <= {ix.WIDE_RECORD}
    for r in refs:
        assert (cwd / "public" / r["path"]).stat().st_size == r["records"] * r["record"]


def test_clients_read_old_and_new_records(upgraded: dict[str, Any]) -> None:
    cwd, vkey, leaves, digests = (upgraded[k] for k in ("cwd", "vkey", "leaves", "digests"))
    for folder, upto in (("old", 200), ("public", 300)):
        client = LogClient(open_store(str(cwd / folder)), vkey)
        for i in (0, 7, 199, 250, 299):
            if i < upto:
                assert client.find(leaves[i]).index == i
        # A key sharing only the first 8 bytes with a logged leaf hash: not in the log (in
        # the short records it is a candidate, checked and set aside; no "broken index").
        with pytest.raises(NotFoundError):
            client.find(leaves[upto - 1][:8] + bytes(24))
        # Leaf hashes and search keys share the index: a leaf hash sharing 8 bytes with an
        # entry's digest key is a collision as well.
        with pytest.raises(NotFoundError):
            client.find(ix.search_key(digests[upto - 2])[:8] + bytes(24))
    for i in (3, 198, 260):
        assert _search(cwd, vkey, "--digest", digests[i]) == [i]
        assert _search(cwd, vkey, "--leaf-hash", leaves[i].hex()) == [i]
    res = tlog(cwd, "search", "--log", "public", "--vkey", vkey, "--leaf-hash",
               (leaves[260][:8] + bytes(24)).hex())
    assert res.returncode == 1 and "no entry with leaf hash" in res.stderr, res.stderr


def test_the_one_file_script_reads_old_and_new_records(upgraded: dict[str, Any]) -> None:
    """scripts/verify_inclusion.py (standard library and cryptography only) looks leaf hashes
    up in either kind of record, and a prefix-only match is "not in the log" (exit 3)."""
    cwd, vkey, leaves = upgraded["cwd"], upgraded["vkey"], upgraded["leaves"]
    script = Path(__file__).resolve().parent.parent / "scripts" / "verify_inclusion.py"

    def run(folder: str, leaf: bytes) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-I", str(script), str(cwd / folder), vkey,
                               "--leaf-hash", leaf.hex()], capture_output=True, text=True,
                              timeout=120)

    for folder, i in (("old", 7), ("public", 7), ("public", 250)):
        res = run(folder, leaves[i])
        assert res.returncode == 0 and res.stdout.startswith(f"OK: entry {i} "), res.stderr
    res = run("public", leaves[250][:8] + bytes(24))
    assert res.returncode == 3 and "no entry with leaf hash" in res.stdout + res.stderr


@pytest.mark.browser
def test_the_page_reads_old_and_new_records(upgraded: dict[str, Any]) -> None:
    require_chromium()
    cwd, leaves = upgraded["cwd"], upgraded["leaves"]
    for browser in chromium():
        page = browser.new_page()
        for folder, found, near in (("old", [7, 199], 199), ("public", [7, 250, 299], 299)):
            with StaticServer(cwd / folder) as server:
                for i in found:
                    page.goto(f"{server.url}/entry.html?q={leaves[i].hex()}")
                    assert _badge(page) == "verified"
                    assert page.inner_text("#f-index") == str(i)
                digest_key = ix.search_key(upgraded["digests"][near - 1])
                for twin in (leaves[near][:8] + bytes(24), digest_key[:8] + bytes(24)):
                    page.goto(f"{server.url}/entry.html?q={twin.hex()}")
                    assert _badge(page) == (
                        "not found: no entry with this leaf hash in the log, according to its "
                        "index (which can leave entries out unseen)")
                    page.goto(f"{server.url}/search.html?q=leaf:{twin.hex()}")
                    page.wait_for_function("document.getElementById('status').className"
                                           ".indexOf('pending') < 0", timeout=30_000)
                    assert page.inner_text("#status") == (
                        "not found: the log's index names no entry that carries this (an "
                        "index can leave entries out unseen)")
                    assert page.is_hidden("#more") and page.is_hidden("#hits")
                got = page.evaluate(f"window.tiledlog.search({upgraded['digests'][150]!r}, {{}})"
                                    ".then((r) => r.hits.map((h) => [h.index, h.carries]))")
                assert got == [[150, True]]
        page.close()


def test_search_sets_a_key_prefix_collision_aside(upgraded: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A query whose key shares only its first 8 bytes with an entry's digest key is a
    collision, not a lie: no match, and no "broken index". Such a pair costs 2^64 hashes to
    make, so the query's key is a stand-in (the one substitution in this file) built from
    entry 260's real key; the entries, the index and the proofs are real."""
    from tlog.client import search as search_mod

    real, query = ix.search_key, "sha256:" + "ab" * 32
    near = real(upgraded["digests"][260])[:8] + bytes(24)
    monkeypatch.setattr(search_mod, "search_key", lambda s: near if s == query else real(s))
    client = LogClient(open_store(str(upgraded["cwd"] / "public")), upgraded["vkey"])
    assert client.index_candidates(near, client.checkpoint())[0] == [260]
    result = search_mod.search(client, query)
    assert (result.entries, result.rejected_candidates) == ((), ())


def test_the_sequencer_logs_a_leaf_that_only_shares_a_prefix(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture,
                                                             ) -> None:
    """A submission whose leaf hash shares its first 8 bytes with a logged one is a candidate
    duplicate that the level-0 tile rules out: logged, and no "broken index" said. The leaf
    hash is chosen by the admission function the pipeline takes (a real collision costs 2^64
    hashes); the index, tiles and checks are the sequencer's own."""
    cfg, _, _ = make_log(tmp_path)
    first: dict[str, bytes] = {}

    def admit(docs: list[bytes]) -> list[Any]:
        out = simple_admit(docs)
        for j, d in enumerate(docs):
            value = json.loads(d)["value"]
            if value == "twin":  # an entry of its own, whose leaf hash shares 8 bytes
                out[j] = (out[j][0], first["leaf"][:8] + bytes(24), out[j][2])
            elif value == "first":
                first["leaf"] = out[j][1]
        return out

    enqueue(open_store(cfg.queue), ["first", "other"])
    assert sequencer(cfg, admit=admit).run().size == 2
    enqueue(open_store(cfg.queue), ["twin"])
    with caplog.at_level("WARNING", logger="tiledlog.sequencer"):
        assert sequencer(cfg, admit=admit).run().size == 3
    assert "index is broken" not in caplog.text


def test_the_sequencer_logs_a_leaf_that_only_shares_a_search_keys_prefix(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The same, for a leaf hash sharing 8 bytes with a logged entry's digest key (leaf hashes
    and search keys share the index): the sequencer reads that entry's bundle to see it is
    filed under such a key. Real hashedrekord entries; the twin's leaf hash is chosen by the
    admission function the pipeline takes."""
    from tlog.entries import admit as admit_one

    cfg, _, _ = make_log(tmp_path)
    docs = [d for _, d in hashedrekord_docs(3, seed=21)]
    first_key = ix.search_key(json.loads(docs[0])["digest"])

    def admit(batch: list[bytes]) -> list[Any]:
        out = []
        for d in batch:
            a = admit_one(d)
            keys = b"".join(ix.search_key(k) for k in a.search_keys)
            leaf = first_key[:8] + bytes(24) if d == docs[2] else a.leaf_hash
            out.append((a.entry, leaf, keys))
        return out

    queue = open_store(cfg.queue)
    for d in docs[:2]:
        queue.put(f"pending/{hashlib.sha256(d).hexdigest()}.json", d)
    assert sequencer(cfg, admit=admit).run().size == 2
    queue.put(f"pending/{hashlib.sha256(docs[2]).hexdigest()}.json", docs[2])
    with caplog.at_level("WARNING", logger="tiledlog.sequencer"):
        assert sequencer(cfg, admit=admit).run().size == 3
    assert "index is broken" not in caplog.text
