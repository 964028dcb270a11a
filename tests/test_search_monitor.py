"""`tlog search` (complete and verified, GETs counted) and `tlog monitor` (events, exit codes)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from servers import StaticServer
from submissions import ed25519_key

from tlog import index as ix
from tlog.checkpoint import Checkpoint, format_checkpoint
from tlog.entries import entry_search_keys
from tlog.entries.hashedrekord import TYPE as HR
from tlog.errors import NotFoundError, TlogError
from tlog.integrate import integrate, integrate_bundles
from tlog.merkle import leaf_hash
from tlog.note import generate_key, new_signer, sign_note
from tlog.storage import open_store

BIN = Path(sys.executable).parent
N = 100_000


def _entries(n: int, keys: int = 5, bad_at: int | None = None) -> list[bytes]:
    """Real signed hashedrekord entries; every 10th artifact is signed by two keys."""
    signers = [ed25519_key(100 + k) for k in range(keys)]
    rare = ed25519_key(99)  # signs one entry in 1,000
    out = []
    for i in range(n):
        key, pem = rare if i % 1000 == 999 else signers[i % keys]
        art = b"artifact %d" % (i - 1 if i % 10 == 1 else i)  # same digest as the previous one
        digest = hashlib.sha256(art).digest()
        sig = key.sign(digest) if i != bad_at else key.sign(b"something else entirely!!!!!!!")
        doc = {"type": "hashedrekord", "digest": "sha256:" + digest.hex(),
               "signature": base64.b64encode(sig).decode(), "public_key": pem}
        parsed = HR.parse(doc)
        parsed.details = parsed.options[0]  # skip verify(): one entry is bad on purpose
        out.append(HR.canonical(parsed))
    return out


def _keys(entry: bytes) -> list[str]:
    """An entry's search keys; none for the bad entries a misbehaving log is made to hold."""
    try:
        return entry_search_keys(entry)
    except TlogError:
        return []


def _publish(root: Path, entries: list[bytes], origin: str = "search.example/log",
             skey: str | None = None) -> str:
    """Write a whole log (tiles, bundles, index built in 1,000-entry batches, checkpoint)."""
    if skey is None:
        skey, _ = generate_key(origin)
    store = open_store(str(root))
    leaves = [leaf_hash(e) for e in entries]
    for t, data in integrate(0, {}, leaves).tiles.items():
        store.put(t.path, data)
    for t, data in integrate_bundles(0, None, entries).items():
        store.put(t.path, data)
    manifest, objects = ix.empty_manifest(), {}
    for start in range(0, len(entries), 1000):
        recs = []
        for i in range(start, min(start + 1000, len(entries))):
            recs.append((ix.leaf_key(leaves[i]), i))
            recs += [(ix.search_key(k), i) for k in _keys(entries[i])]
        upd = ix.update_index(manifest, recs, min(start + 1000, len(entries)), objects.__getitem__)
        objects.update(upd.objects)
        manifest = upd.manifest
    for path in ix.index_paths(manifest):
        store.put(path, objects[path])
    store.put(ix.manifest_path(len(entries)), ix.format_manifest(manifest))
    cp = Checkpoint(origin, len(entries), integrate(0, {}, leaves).root)
    store.overwrite("checkpoint", sign_note(format_checkpoint(cp), new_signer(skey)))
    return new_signer(skey).verifier().vkey


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[bytes]]:
    root = tmp_path_factory.mktemp("search") / "public"
    entries = _entries(N)
    return root, _publish(root, entries), entries


def _search(url: str, vkey: str, *args: str) -> list[int]:
    res = subprocess.run([str(BIN / "tlog"), "search", "--log", url, "--vkey", vkey, "--json",
                          *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return [m["index"] for m in json.loads(res.stdout)["matches"]]


def test_search_is_complete_and_verified(big_log: tuple[Path, str, list[bytes]],
                                         tmp_path: Path) -> None:
    root, vkey, entries = big_log
    truth: dict[str, list[int]] = {}
    for i, e in enumerate(entries):  # the full scan
        for k in entry_search_keys(e):
            truth.setdefault(k, []).append(i)
    digest = next(k for k in truth if k.startswith("sha256:") and len(truth[k]) == 2)
    _, pem = ed25519_key(99)
    from tlog.entries import key_search_key

    key = key_search_key(pem.encode())
    assert len(truth[key]) == N // 1000
    (tmp_path / "signer.pub").write_text(pem)
    with StaticServer(root) as server:
        assert _search(server.url, vkey, "--digest", digest) == truth[digest]
        server.reset()
        _search(server.url, vkey, "--digest", "sha256:" + "ab" * 32)
        gets_absent = server.count("index/")
        fingerprint = key.removeprefix("key:")
        assert _search(server.url, vkey, "--key-fingerprint", fingerprint) == truth[key]
        assert _search(server.url, vkey, "--public-key", str(tmp_path / "signer.pub")) == truth[key]
        server.reset()
        want = N - 7
        assert _search(server.url, vkey, "--entry-hash", leaf_hash(entries[want]).hex()) == [want]
        gets_leaf = server.count("index/")
    print(f"\nindex GETs per lookup at {N} entries: absent digest {gets_absent}, "
          f"leaf hash {gets_leaf} (manifest included)")
    assert gets_absent <= 4 and gets_leaf <= 4


def _monitor(url: str, vkey: str, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), "monitor", "--log", url, "--vkey", vkey, "--state",
                           str(state), "--json", *args], capture_output=True, text=True,
                          timeout=120)


def test_monitor_events_fork_and_bad_entry(tmp_path: Path) -> None:
    skey, vkey = generate_key("mon.example/log")
    entries = _entries(600, keys=3)
    root = tmp_path / "public"
    _publish(root, entries[:300], "mon.example/log", skey)
    _, pem = ed25519_key(101)
    (tmp_path / "watched.pub").write_text(pem)
    state = tmp_path / "state"
    url = str(root)
    first = _monitor(url, vkey, state, "--watch-key", str(tmp_path / "watched.pub"))
    assert first.returncode == 4, first.stderr  # events: the watched key signed 100 entries
    events = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(events) == 100 and all(e["event"] == "match" for e in events)
    assert _monitor(url, vkey, state).returncode == 0  # nothing new
    # The log grows: only the new entries are reported, once.
    (root / "checkpoint").unlink()
    _publish(root, entries, "mon.example/log", skey)
    grown = _monitor(url, vkey, state, "--watch-key", str(tmp_path / "watched.pub"))
    assert grown.returncode == 4
    assert {json.loads(x)["index"] for x in grown.stdout.splitlines()} == {
        i for i in range(300, 600) if i % 3 == 1}
    # A fork: another tree of the same size signed by the same key.
    fork_root = tmp_path / "fork"
    _publish(fork_root, _entries(600, keys=3, bad_at=None)[::-1], "mon.example/log", skey)
    forked = _monitor(str(fork_root), vkey, state)
    assert forked.returncode == 5
    event = json.loads(forked.stdout.splitlines()[0])
    assert event["event"] == "misbehaviour" and "fork" in event["reason"]
    assert all(Path(p).exists() for p in event["evidence"])
    # An entry whose signature does not verify, written into the log's tiles directly.
    bad_root = tmp_path / "bad"
    _publish(bad_root, _entries(50, keys=3, bad_at=42), "mon.example/log", skey)
    bad = _monitor(str(bad_root), vkey, tmp_path / "state2")
    assert bad.returncode == 5
    bad_events = [json.loads(x) for x in bad.stdout.splitlines()]
    assert [e["index"] for e in bad_events] == [42]
    assert "does not verify" in bad_events[0]["reason"]


def test_search_reports_a_lying_index(tmp_path: Path) -> None:
    """Issue 18 item 5, client side: an index that names entries not carrying the digest is
    broken; `tlog search` says so and exits 3, not "no entries" with 0."""
    from loglib import TestLog, plant_index_lie

    entries = _entries(300)
    log = TestLog(tmp_path / "log", origin="search.example/log")
    log.append(entries)
    log.publish()
    store = open_store(str(tmp_path / "log"))
    query = "sha256:" + "ab" * 32
    plant_index_lie(store, 300, ix.search_key(query), 3)  # "entry 3 carries it"
    res = subprocess.run([str(BIN / "tlog"), "search", "--log", str(tmp_path / "log"), "--vkey",
                          log.vkey, "--digest", query], capture_output=True, text=True)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "the log's index names entries [3]" in res.stderr and "the index is broken" in res.stderr
    assert "Traceback" not in res.stderr
    # The tree's own manifest naming an entry beyond the tree is a lie too (a newer manifest,
    # read when the tree's was collected, may; this one may not), by digest and by leaf hash.
    other = "sha256:" + "cd" * 32
    plant_index_lie(store, 300, ix.search_key(other), 305)
    leaf = bytes(range(32))
    plant_index_lie(store, 300, leaf, 301)
    for args in (["--digest", other], ["--leaf-hash", leaf.hex()]):
        res = subprocess.run([str(BIN / "tlog"), "search", "--log", str(tmp_path / "log"),
                              "--vkey", log.vkey, *args], capture_output=True, text=True)
        assert res.returncode == 3 and "the index is broken" in res.stderr, res.stderr


def test_a_candidate_of_an_unknown_entry_type_is_not_a_broken_index(tmp_path: Path) -> None:
    """The index names, for a digest, an entry of a type this installation has no plugin for:
    it cannot tell whether the entry carries the digest, so it says so (a warning, and
    "unreadable_candidates" in --json), exit 0, rather than calling the log's index broken
    (exit 3)."""
    from loglib import TestLog, plant_index_lie

    future = json.dumps({"kind": "future-type", "apiVersion": "0.0.1", "spec": {}}).encode()
    log = TestLog(tmp_path / "log", origin="search.example/log")
    log.append([*_entries(10), future])
    log.publish()
    query = "sha256:" + "ef" * 32
    plant_index_lie(open_store(str(tmp_path / "log")), 11, ix.search_key(query), 10)
    args = [str(BIN / "tlog"), "search", "--log", str(tmp_path / "log"), "--vkey", log.vkey,
            "--digest", query]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"no entries for {query} that this installation can read")
    assert "(according to its index, which can leave entries out unseen)" in res.stdout
    assert "entries [10] of types this installation cannot read" in res.stderr
    res = subprocess.run([*args, "--json"], capture_output=True, text=True)
    out = json.loads(res.stdout)
    assert (out["matches"], out["broken_index_candidates"], out["unreadable_candidates"]) == (
        [], [], [10])


def test_an_index_format_newer_than_this_tlog_says_upgrade(tmp_path: Path) -> None:
    """A log whose index a newer tiledlog wrote (manifest version 3): `tlog search` says this
    installation is too old (exit 2), not that the log's index is malformed (exit 3, which
    would accuse the log); the one-file script says to fetch it again (exit 1)."""
    from loglib import TestLog

    log = TestLog(tmp_path / "log", origin="search.example/log")
    log.append(_entries(20))
    log.publish()
    manifest = tmp_path / "log" / ix.manifest_path(20)
    manifest.write_bytes(manifest.read_bytes().replace(b'"version":2', b'"version":3'))
    res = subprocess.run([str(BIN / "tlog"), "search", "--log", str(tmp_path / "log"), "--vkey",
                          log.vkey, "--digest", "sha256:" + "ab" * 32],
                         capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"error: {ix.manifest_path(20)}: index manifest version 3 is "
                                 "newer than this tiledlog reads"), res.stderr
    assert "upgrade tiledlog" in res.stderr
    script = Path(__file__).resolve().parent.parent / "scripts" / "verify_inclusion.py"
    res = subprocess.run([sys.executable, "-I", str(script), str(tmp_path / "log"), log.vkey,
                          "--leaf-hash", "00" * 32], capture_output=True, text=True)
    assert res.returncode == 1 and "fetch verify_inclusion.py again" in res.stderr, res.stderr


def test_monitor_reports_bad_tiles_and_rollbacks_as_misbehaviour(tmp_path: Path) -> None:
    """Issue 17 item 5: a tile that fails authentication against the signed root, and a
    smaller tree that is not a prefix of the trusted one, are the log misbehaving (exit 5,
    an event with evidence), not a verification error (3) or "a stale copy" (0)."""
    import shutil

    skey, vkey = generate_key("mon.example/log")
    entries = _entries(600, keys=3)
    root = tmp_path / "public"
    _publish(root, entries[:300], "mon.example/log", skey)
    old_note = (root / "checkpoint").read_bytes()
    state = tmp_path / "state"
    assert _monitor(str(root), vkey, state).returncode == 0
    (root / "checkpoint").unlink()
    _publish(root, entries, "mon.example/log", skey)
    # A tampered level-0 tile of the grown tree.
    tampered = tmp_path / "tampered"
    shutil.copytree(root, tampered)
    tile = tampered / "tile" / "0" / "001"
    data = bytearray(tile.read_bytes())
    data[0] ^= 1
    tile.write_bytes(bytes(data))
    # Seen by a monitor that follows the log from the start (no trusted state to prove
    # growth from: the scan reads the tile), and by one that does (the growth proof reads it).
    bad = _monitor(str(tampered), vkey, tmp_path / "fresh-state")
    assert bad.returncode == 5, bad.stdout + bad.stderr
    event = json.loads(bad.stdout.splitlines()[-1])
    assert "do not authenticate against its signed checkpoint 600" in event["reason"]
    assert all(Path(p).exists() for p in event["evidence"])
    # The tile as served is kept beside the checkpoint (only the checkpoint was: nothing a
    # third party could check the claim with).
    served = [Path(p) for p in event["evidence"] if p.endswith("-tile-0-001")]
    assert [p.read_bytes() for p in served] == [bytes(data)], event["evidence"]
    grown = _monitor(str(tampered), vkey, state)
    assert grown.returncode == 5
    evidence = json.loads(grown.stdout.splitlines()[-1])["evidence"]
    assert any(p.endswith("-tile-0-001") and Path(p).read_bytes() == bytes(data)
               for p in evidence), evidence
    # The honest log: the state moves to 600.
    assert _monitor(str(root), vkey, state).returncode == 0
    # A stale copy of the real tree of size 300 (a CDN): fine.
    stale = tmp_path / "stale"
    shutil.copytree(root, stale)
    (stale / "checkpoint").write_bytes(old_note)
    assert _monitor(str(stale), vkey, state).returncode == 0
    # Another tree of size 300 signed by the same key, beside the real tiles: a rollback.
    other = tmp_path / "other"
    _publish(other, entries[:300][::-1], "mon.example/log", skey)
    (stale / "checkpoint").write_bytes((other / "checkpoint").read_bytes())
    rolled = _monitor(str(stale), vkey, state)
    assert rolled.returncode == 5, rolled.stdout + rolled.stderr
    event = json.loads(rolled.stdout.splitlines()[-1])
    assert event["reason"].startswith("rollback: checkpoint 300 is not a prefix of the trusted "
                                      "checkpoint 600")
    # The other tree alone, without the trusted tree's tiles: no proof either way, so not
    # misbehaviour, but not a quiet success either (it had "checked 0 new entries up to size
    # 600", exit 0, on every poll): a failed check, exit 3, the state kept, as `tlog verify`.
    unproven = _monitor(str(other), vkey, state)
    assert unproven.returncode == 3, unproven.stdout + unproven.stderr
    assert ("served checkpoint size 300, older than the trusted size 600, and does not serve "
            "the tiles to show it is a stale copy") in unproven.stderr, unproven.stderr
    assert _monitor(str(root), vkey, state).returncode == 0


def test_search_survives_its_manifest_being_collected(tmp_path: Path) -> None:
    """One manifest lookup for `find` and `search` (issue 21): when the manifest of the
    checkpoint a search verified is deleted before it is read (the log moved on, and
    index_keep = 1 removed it), the search reads the latest one, as `find` always did."""
    from seqhelpers import make_log, sequencer
    from submissions import hashedrekord_docs

    from tlog.client import LogClient
    from tlog.client.search import search

    cfg, _, vkey = make_log(tmp_path, batch_size=5, index_keep=1)
    queue, store = open_store(cfg.queue), open_store(cfg.store)
    docs = list(hashedrekord_docs(10, seed=3))
    for key, doc in docs[:5]:
        queue.put(key, doc)
    sequencer(cfg, admit=None).run()
    digest = json.loads(docs[0][1])["digest"]

    class MovesOn:
        """The log, which commits another batch just as the searcher reads manifest 5."""

        def __init__(self) -> None:
            self.moved = False

        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        def get(self, key: str) -> bytes:
            if key == ix.manifest_path(5) and not self.moved:
                self.moved = True
                for k, d in docs[5:]:
                    queue.put(k, d)
                assert sequencer(cfg, admit=None).run().size == 10
            return store.get(key)

    found = search(LogClient(MovesOn(), vkey), digest)
    assert len(found.entries) == 1 and found.size == 5
    assert digest in entry_search_keys(found.entries[0].entry)
    # A key that signed entries on both sides of the checkpoint: the latest manifest names
    # entries beyond the tree searched, which says nothing about the index (not "broken").
    signer = next(k for k in entry_search_keys(found.entries[0].entry) if k.startswith("key:"))
    stale = LogClient(store, vkey)
    stale.checkpoint = lambda: found.entries[0].checkpoint  # type: ignore[method-assign]
    by_key = search(stale, signer)
    assert by_key.size == 5 and by_key.rejected_candidates == ()
    now = LogClient(store, vkey)
    carriers = [i for i in range(10) if signer in entry_search_keys(now.entry(i).entry)]
    assert carriers[-1] >= 5  # the latest manifest does name one beyond the tree
    assert [e.index for e in by_key.entries] == [i for i in carriers if i < 5]


def test_a_stale_latest_manifest_does_not_answer_for_a_larger_tree(tmp_path: Path) -> None:
    """The manifest of the tree searched is gone and the latest checkpoint served is an older,
    smaller one (a stale copy): its manifest would leave out every entry between the two, so
    the lookup fails (not found) rather than answer short."""
    from seqhelpers import make_log, sequencer
    from submissions import hashedrekord_docs

    from tlog.client import LogClient

    cfg, _, vkey = make_log(tmp_path, batch_size=5)
    queue, store = open_store(cfg.queue), open_store(cfg.store)
    docs = list(hashedrekord_docs(10, seed=4))
    for key, doc in docs[:5]:
        queue.put(key, doc)
    sequencer(cfg, admit=None).run()
    old_note = store.get("checkpoint")
    for key, doc in docs[5:]:
        queue.put(key, doc)
    assert sequencer(cfg, admit=None).run().size == 10
    client = LogClient(store, vkey)
    cp = client.checkpoint()
    store.delete(ix.manifest_path(10))
    store.overwrite("checkpoint", old_note)
    with pytest.raises(NotFoundError):
        client.index_candidates(ix.search_key("key:" + "00" * 32), cp)


def test_a_first_pass_does_not_hold_every_level_0_tile(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A monitor's first pass reads every level-0 tile; each is dropped once its group is
    reported (kept, they were 8 KB per 256 entries: 3 GB at 10^8 entries), so a pass holds
    those of the groups in flight. Four bundles a group and 1,024 entries in flight stand in
    for 8,192 and 16,384; the tile reader is the monitor's own, counted."""
    import tlog.client.monitor as monitor
    from tlog.tiles import TileHashReader

    held: list[int] = []

    class Counted(TileHashReader):
        def read_leaves(self, lo: int, hi: int) -> list[bytes]:
            out = super().read_leaves(lo, hi)
            held.append(sum(1 for t in self.verified if t.level == 0))
            return out

    monkeypatch.setattr(monitor, "_GROUP", 4)
    monkeypatch.setattr(monitor, "TileHashReader", Counted)
    monkeypatch.setattr(monitor, "_AHEAD", 1024)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # a pool (one process reads nothing ahead)
    skey, vkey = generate_key("first.example/log")
    _publish(tmp_path / "log", _entries(40 * 256 + 17, keys=3), "first.example/log", skey)
    result = monitor.Monitor(open_store(str(tmp_path / "log")), vkey,
                             tmp_path / "state").run_once(lambda e: None)
    assert result.exit_code in (0, 4) and result.entries_checked == 40 * 256 + 17
    assert len(held) >= 10 and max(held) <= 3 * 4 + 1, held  # about 9 here


def test_a_bad_entry_s_proof_reads_no_tile_twice(tmp_path: Path) -> None:
    """The proof bundle of a bad entry is built from the level-0 tile its group authenticated,
    still held: a log that answers a second read of that tile with a 404 cannot turn the
    misbehaviour into "try again" (a tile dropped too early was read again, and the 404 lost
    the event)."""
    import collections

    import tlog.client.monitor as monitor

    skey, vkey = generate_key("h.example/log")
    _publish(tmp_path / "log", _entries(600, keys=3, bad_at=10), "h.example/log", skey)
    inner = open_store(str(tmp_path / "log"))
    reads: collections.Counter[str] = collections.Counter()

    class SecondReadMissing:
        def __getattr__(self, name: str) -> object:
            return getattr(inner, name)

        def get_many(self, keys: list[str]) -> list[bytes | None]:
            reads.update(keys)
            return [None if k == "tile/0/000" and reads[k] > 1 else inner.get(k) for k in keys]

    events: list[dict[str, object]] = []
    result = monitor.Monitor(SecondReadMissing(), vkey, tmp_path / "state").run_once(
        events.append)
    assert result.exit_code == 5 and reads["tile/0/000"] == 1
    assert [(e["event"], e.get("kind"), e.get("index")) for e in events] == [
        ("misbehaviour", "bad-entry", 10)]


def _growing_log(root: Path) -> tuple[Callable[[int], None], str]:
    """A log of up to 300 entries published in ``root`` at the size asked (grow(n)), and its
    verifier key."""
    skey, vkey = generate_key("edge.example/log")
    entries = _entries(300, keys=3)

    def grow(n: int) -> None:
        (root / "checkpoint").unlink(missing_ok=True)
        _publish(root, entries[:n], "edge.example/log", skey)

    return grow, vkey


def test_monitor_reads_the_edge_bundle_once(tmp_path: Path) -> None:
    """A monitor polling a growing log reads only the bytes after the partial entry bundle it
    kept (a range read), not the whole partial bundle again; a bundle that filled is read
    whole, once (that the permanent bundle decodes is checked); a kept copy that went bad
    costs a whole read, not a false alarm; a log serving bad new bytes is still caught."""
    grow, vkey = _growing_log(tmp_path / "public")
    root, state = tmp_path / "public", tmp_path / "state"

    def bundle(path: str) -> Path:
        return root / "tile/entries" / path

    grow(100)
    with StaticServer(root) as server:
        assert _monitor(server.url, vkey, state).returncode == 0
        grow(130)
        server.reset()
        assert _monitor(server.url, vkey, state).returncode == 0
        read = server.sent["tile/entries/000.p/130"]
        new_bytes = bundle("000.p/130").stat().st_size - bundle("000.p/100").stat().st_size
        assert read == new_bytes, (read, new_bytes)  # before: the whole 130-entry bundle
        # The kept copy corrupted where it places the entries after it (an entry's length):
        # the combination fails, and the whole bundle is read instead.
        (state_file,) = state.glob("monitor-*.json")
        doc = json.loads(state_file.read_text())
        kept = bytearray(base64.b64decode(doc["edge"]["bundle"]))
        kept[0] ^= 1
        doc["edge"]["bundle"] = base64.b64encode(bytes(kept)).decode()
        state_file.write_text(json.dumps(doc))
        grow(160)
        server.reset()
        res = _monitor(server.url, vkey, state)
        assert res.returncode == 0, res.stdout
        assert server.sent["tile/entries/000.p/160"] > bundle("000.p/160").stat().st_size
        # The bundle fills: read whole.
        grow(260)
        server.reset()
        assert _monitor(server.url, vkey, state).returncode == 0
        assert server.sent["tile/entries/000"] == bundle("000").stat().st_size
        # The log serves a bundle whose new entry is not the tree's: misbehaviour, as before.
        grow(290)
        raw = bytearray(bundle("001.p/34").read_bytes())
        raw[-1] ^= 1
        bundle("001.p/34").write_bytes(bytes(raw))
        bad = _monitor(server.url, vkey, state)
    assert bad.returncode == 5, bad.stdout
    event = json.loads(bad.stdout.splitlines()[0])
    assert event["kind"] == "bad-bundle" and event["index"] == 289, event


def test_monitor_reads_the_edge_tiles_by_range(tmp_path: Path) -> None:
    """The same for the partial hash tiles at the right edge: a poll reads the hashes after
    the kept ones (a range read), a tile that filled is read whole (the permanent one is
    checked), a kept copy that went bad costs a whole read, not a false alarm, and a log
    serving bad new hashes is still caught."""
    grow, vkey = _growing_log(tmp_path / "public")
    root, state = tmp_path / "public", tmp_path / "state"

    grow(100)
    with StaticServer(root) as server:
        assert _monitor(server.url, vkey, state).returncode == 0
        grow(130)
        server.reset()
        assert _monitor(server.url, vkey, state).returncode == 0
        assert server.sent["tile/0/000.p/130"] == 30 * 32  # before: all 130 hashes
        (state_file,) = state.glob("monitor-*.json")
        doc = json.loads(state_file.read_text())
        assert [(t["level"], t["n"], t["width"]) for t in doc["tiles"]] == [(0, 0, 130)]
        kept = bytearray(base64.b64decode(doc["tiles"][0]["hashes"]))
        kept[5] ^= 1
        doc["tiles"][0]["hashes"] = base64.b64encode(bytes(kept)).decode()
        state_file.write_text(json.dumps(doc))
        grow(160)
        server.reset()
        res = _monitor(server.url, vkey, state)
        assert res.returncode == 0, res.stdout
        assert server.sent["tile/0/000.p/160"] == 160 * 32  # not the trusted root's: whole
        grow(260)
        server.reset()
        assert _monitor(server.url, vkey, state).returncode == 0
        assert server.sent["tile/0/000"] == 256 * 32
        grow(290)
        tile = root / "tile/0/001.p/34"
        raw = bytearray(tile.read_bytes())
        raw[-1] ^= 1
        tile.write_bytes(bytes(raw))
        bad = _monitor(server.url, vkey, state)
    assert bad.returncode == 5, bad.stdout
    event = json.loads(bad.stdout.splitlines()[0])
    assert event["kind"] == "bad-tile" and "checkpoint 290" in event["reason"], event


def test_a_hostile_answer_after_a_bad_entry_keeps_the_misbehaviour(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that reported a bad entry, then met a hostile answer for a later group of
    bundles, exits 5 with the event (the state not advanced), not 3: a log cannot turn a
    provable bad entry into "try again". One bundle per group stands in for the 8,192-entry
    groups of a pass; the store is the log's folder, with that one later bundle answered as a
    hostile server does."""
    import tlog.client.monitor as monitor
    from tlog.errors import HostileResponseError

    monkeypatch.setattr(monitor, "_GROUP", 1)
    skey, vkey = generate_key("h.example/log")
    _publish(tmp_path / "log", _entries(600, keys=3, bad_at=10), "h.example/log", skey)
    inner = open_store(str(tmp_path / "log"))

    class Hostile:
        def __getattr__(self, name: str) -> object:
            return getattr(inner, name)

        def get_many(self, keys: list[str]) -> list[bytes | None]:
            if any(k.startswith("tile/entries/002") for k in keys):
                raise HostileResponseError("tile/entries/002: more than the limit for it")
            return inner.get_many(keys)

    events: list[dict[str, object]] = []
    result = monitor.Monitor(Hostile(), vkey, tmp_path / "state").run_once(events.append)
    assert result.exit_code == 5
    assert [(e["event"], e.get("index")) for e in events] == [("misbehaviour", 10)]
    assert not list((tmp_path / "state").glob("monitor-*.json"))  # not advanced


@pytest.mark.parametrize("doc", [
    None, [], {"n": 0, "width": 100}, {"n": 0, "width": 100, "bundle": "not base64!"},
    {"n": True, "width": 100, "bundle": ""}, {"n": 0, "width": 100.0, "bundle": ""},
    {"n": 0, "width": 50, "bundle": ""},  # another tree's edge
    {"n": 1, "width": 100, "bundle": ""}, {"n": -1, "width": 100, "bundle": ""},
])
def test_a_kept_edge_that_is_not_this_tree_s_is_ignored(doc: object) -> None:
    """The state's kept edge bundle is a cache: one that is malformed or belongs to another
    tree size is dropped (the bundle is read whole), never an error."""
    from tlog.client.monitor import _edge_of

    assert _edge_of(doc, 100) is None
    assert _edge_of({"n": 0, "width": 100, "bundle": "AAE="}, 100) == (0, 100, b"\x00\x01")
    assert _edge_of({"n": 1, "width": 0, "bundle": ""}, 256) is None  # no partial bundle


@pytest.mark.parametrize("doc", [
    None, {}, [None], [{"level": 0, "n": 0, "width": 100}],
    [{"level": 0, "n": 0, "width": 100, "hashes": "not base64!"}],
    [{"level": 0, "n": 0, "width": 99, "hashes": base64.b64encode(bytes(99 * 32)).decode()}],
    [{"level": 0, "n": 0, "width": 100, "hashes": base64.b64encode(bytes(99 * 32)).decode()}],
    [{"level": 1, "n": 0, "width": 100, "hashes": base64.b64encode(bytes(100 * 32)).decode()}],
    [{"level": True, "n": 0, "width": 100, "hashes": ""}],
    [{"level": 9, "n": 0, "width": 0, "hashes": ""}],
])
def test_kept_tiles_that_are_not_this_tree_s_edge_are_ignored(doc: object) -> None:
    """The state's kept hash tiles are a cache: any that is malformed, of another width or
    level, or not this tree's right edge is dropped (the tile is read whole), never an error."""
    from tlog.client.monitor import _tiles_of

    assert _tiles_of(doc, 100) == {}
    good = {"level": 0, "n": 0, "width": 100, "hashes": base64.b64encode(bytes(3200)).decode()}
    assert _tiles_of([good], 100) == {(0, 0): bytes(3200)}


@pytest.mark.parametrize("damage", ["entry", "truncated"])
def test_a_bundle_that_filled_is_checked_whole(tmp_path: Path, damage: str) -> None:
    """The monitor checked entries 0..159 from a partial bundle; when the bundle fills it is
    read whole, and an earlier entry the permanent bundle serves wrong is misbehaviour (the
    partial bundles were right: only the bundle that stays was altered); a bundle that does
    not decode is one event, not one per span checked."""
    skey, vkey = generate_key("edge.example/log")
    entries = _entries(260, keys=3)
    root, state = tmp_path / "public", tmp_path / "state"
    _publish(root, entries[:160], "edge.example/log", skey)
    assert _monitor(str(root), vkey, state).returncode == 0
    (root / "checkpoint").unlink()
    _publish(root, entries, "edge.example/log", skey)
    full = bytearray((root / "tile/entries/000").read_bytes())
    if damage == "entry":
        full[2] ^= 1  # inside entry 0, after its 2-byte length
    else:
        del full[-10:]
    (root / "tile/entries/000").write_bytes(bytes(full))
    res = _monitor(str(root), vkey, state)
    assert res.returncode == 5, res.stdout
    events = [json.loads(x) for x in res.stdout.splitlines()]
    assert [(e["kind"], e["index"]) for e in events] == [("bad-bundle", 0)], events


def test_monitor_interval_outlives_a_log_that_is_away_for_a_poll(tmp_path: Path) -> None:
    """`tlog monitor --interval` is a watch that runs for months: a poll that cannot reach the
    log (exit 1's failures: network, storage, nothing published there for the moment) is
    told on stderr and retried at the next interval; the watch ended at the first one."""
    import queue as queues
    import signal
    import threading

    skey, vkey = generate_key("mon.example/log")
    entries = _entries(600, keys=3)
    root = tmp_path / "public"
    _publish(root, entries[:300], "mon.example/log", skey)
    proc = subprocess.Popen([str(BIN / "tlog"), "monitor", "--log", str(root), "--vkey", vkey,
                             "--state", str(tmp_path / "state"), "--interval", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queues.Queue[str] = queues.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()

    def until(text: str) -> list[str]:
        seen: list[str] = []
        for _ in range(120):
            try:
                seen.append(lines.get(timeout=0.5))
            except queues.Empty:
                if proc.poll() is not None:
                    break
                continue
            if text in seen[-1]:
                return seen
        raise AssertionError(f"no {text!r} on stderr; exit {proc.poll()}: {seen}")

    try:
        until("checked 300 new entries up to size 300")
        root.rename(tmp_path / "away")
        seen = until("again in 1 s")
        assert seen[-1].startswith("warning: ") and "checkpoint" in seen[-1], seen
        assert proc.poll() is None
        (tmp_path / "away").rename(root)
        (root / "checkpoint").unlink()
        _publish(root, entries, "mon.example/log", skey)
        until("checked 300 new entries up to size 600")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_monitor_watch_key_that_is_not_a_key_names_the_file(tmp_path: Path) -> None:
    """`--watch-key app.tgz` (the artifact for the key): one line naming the option and the
    file, exit 2; it said only "public_key: not a PEM…"."""
    skey, vkey = generate_key("mon.example/log")
    _publish(tmp_path / "public", _entries(3), "mon.example/log", skey)
    (tmp_path / "app.tgz").write_bytes(b"not a key")
    res = _monitor(str(tmp_path / "public"), vkey, tmp_path / "st", "--watch-key",
                   str(tmp_path / "app.tgz"))
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"error: --watch-key {tmp_path / 'app.tgz'}: not a public key "
                                 "file ("), res.stderr


def test_search_digest_takes_bare_hex_as_the_site_does(tmp_path: Path) -> None:
    """`--digest <64 hex>` is sha256 (as the search page reads it); it was "query: expected
    sha256:<hex>…", naming no option. Anything else names --digest."""
    skey, vkey = generate_key("search.example/log")
    _publish(tmp_path / "public", _entries(5), "search.example/log", skey)
    digest = hashlib.sha256(b"artifact 0").hexdigest()
    base = [str(BIN / "tlog"), "search", "--log", str(tmp_path / "public"), "--vkey", vkey,
            "--json", "--digest"]
    bare, named = (subprocess.run([*base, q], capture_output=True, text=True)
                   for q in (digest.upper(), "sha256:" + digest))
    assert bare.returncode == 0 and named.returncode == 0, bare.stderr + named.stderr
    assert [m["index"] for m in json.loads(bare.stdout)["matches"]] == [0, 1]
    assert json.loads(bare.stdout)["matches"] == json.loads(named.stdout)["matches"]
    bad = subprocess.run([*base, "abc"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --digest 'abc': expected "
                                                         "sha256:<hex>"), bad.stderr
