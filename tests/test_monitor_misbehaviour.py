"""`tlog monitor` over HTTP, one test per way a log can misbehave that a monitor can see
(issue 17 item 5): each exits 5 with a ``misbehaviour`` event of its kind and evidence files a
third party can check with the log's key alone; an entry of a type the monitor does not know is
reported as unverified (exit 4), neither passed nor called misbehaviour."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import StaticServer
from test_search_monitor import _entries, _keys, _publish

from tlog.checkpoint import parse_checkpoint
from tlog.entries.canonical import canonical_json
from tlog.note import generate_key, new_verifier, open_note
from tlog.tiles import decode_entry_bundle, encode_entry_bundle

BIN = Path(sys.executable).parent
ORIGIN = "mon.example/log"


@pytest.fixture(scope="module")
def signed() -> tuple[str, str, list[bytes]]:
    skey, vkey = generate_key(ORIGIN)
    return skey, vkey, _entries(600, keys=3)


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "public"
    root.mkdir()
    with StaticServer(root) as server:
        yield root, server.url


def _monitor(url: str, vkey: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), "monitor", "--log", url, "--vkey", vkey, "--state",
                           str(state), "--json"], capture_output=True, text=True, timeout=120)


def _misbehaviour(res: subprocess.CompletedProcess[str], kind: str) -> dict[str, Any]:
    assert res.returncode == 5, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    bad = [e for e in events if e["event"] == "misbehaviour"]
    assert bad and all(e["kind"] == kind for e in bad), events
    for path in bad[0]["evidence"]:
        assert Path(path).is_file() and Path(path).stat().st_size > 0
    return bad[0]


def _republish(root: Path, entries: list[bytes], skey: str) -> None:
    shutil.rmtree(root)
    root.mkdir()
    _publish(root, entries, ORIGIN, skey)


def _evidence(event: dict[str, Any], name: str) -> bytes:
    (path,) = [p for p in event["evidence"] if p.endswith(name)]
    return Path(path).read_bytes()


def _size(note: bytes, vkey: str) -> int:
    return parse_checkpoint(open_note(note, [new_verifier(vkey)]).text).size


def test_fork_same_size(signed: Any, served: Any, tmp_path: Path) -> None:
    skey, vkey, entries = signed
    root, url = served
    _publish(root, entries[:300], ORIGIN, skey)
    assert _monitor(url, vkey, tmp_path / "st").returncode == 0
    _republish(root, entries[:300][::-1], skey)
    event = _misbehaviour(_monitor(url, vkey, tmp_path / "st"), "fork")
    trusted = _evidence(event, "trusted.checkpoint")
    served_cp = _evidence(event, "served.checkpoint")
    assert trusted != served_cp and _size(trusted, vkey) == _size(served_cp, vkey) == 300


def test_fork_larger_inconsistent_tree(signed: Any, served: Any, tmp_path: Path) -> None:
    skey, vkey, entries = signed
    root, url = served
    _publish(root, entries[:300], ORIGIN, skey)
    assert _monitor(url, vkey, tmp_path / "st").returncode == 0
    _republish(root, entries[300:] + entries[:300], skey)  # 600 entries, not an extension
    event = _misbehaviour(_monitor(url, vkey, tmp_path / "st"), "fork")
    assert "checkpoint 600 is not consistent with trusted 300" in event["reason"]
    assert _size(_evidence(event, "served.checkpoint"), vkey) == 600


def test_rollback(signed: Any, served: Any, tmp_path: Path) -> None:
    skey, vkey, entries = signed
    root, url = served
    _publish(root, entries, ORIGIN, skey)
    assert _monitor(url, vkey, tmp_path / "st").returncode == 0
    other = tmp_path / "other"
    _publish(other, entries[:300][::-1], ORIGIN, skey)  # a smaller tree, not a prefix
    (root / "checkpoint").write_bytes((other / "checkpoint").read_bytes())
    event = _misbehaviour(_monitor(url, vkey, tmp_path / "st"), "rollback")
    assert event["reason"].startswith("rollback: checkpoint 300 is not a prefix")


def test_bad_tile_under_a_valid_checkpoint(signed: Any, served: Any, tmp_path: Path) -> None:
    skey, vkey, entries = signed
    root, url = served
    _publish(root, entries, ORIGIN, skey)
    tile = root / "tile" / "0" / "001"
    data = bytearray(tile.read_bytes())
    data[0] ^= 1
    tile.write_bytes(bytes(data))
    event = _misbehaviour(_monitor(url, vkey, tmp_path / "st"), "bad-tile")
    assert "do not authenticate against its signed checkpoint 600" in event["reason"]


def test_bad_entry_bundle(signed: Any, served: Any, tmp_path: Path) -> None:
    """An entry bundle whose entry 7 is another (valid) entry: the tiles are right, the bundle
    is not what the tree commits to."""
    skey, vkey, entries = signed
    root, url = served
    _publish(root, entries[:300], ORIGIN, skey)
    path = root / "tile" / "entries" / "000"
    bundle = decode_entry_bundle(path.read_bytes(), 256)
    bundle[7] = entries[8]
    path.write_bytes(encode_entry_bundle(bundle))
    event = _misbehaviour(_monitor(url, vkey, tmp_path / "st"), "bad-bundle")
    assert event["index"] == 7 and "tile/entries/000: entry 7 does not hash" in event["reason"]
    assert _evidence(event, "bundle") == path.read_bytes()


def test_a_bundle_of_wrong_entries_is_one_event(signed: Any, served: Any,
                                               tmp_path: Path) -> None:
    """A bundle all of whose entries are not the tree's is one misbehaviour event with one copy
    of the bundle as evidence: it was one event, and one copy of the bundle (up to 16 MiB), per
    entry (256 of each), so a log serving wrong bundles filled the monitor's disk 256 times
    faster than it was read."""
    skey, vkey, entries = signed
    root, url = served
    _publish(root, entries[:300], ORIGIN, skey)
    path = root / "tile" / "entries" / "000"
    path.write_bytes(encode_entry_bundle(entries[1:257]))  # every entry one place off
    res = _monitor(url, vkey, tmp_path / "st")
    event = _misbehaviour(res, "bad-bundle")
    assert len(res.stdout.splitlines()) == 1, res.stdout
    assert event["index"] == 0 and "256 of its entries" in event["reason"], event
    assert "entry 0 does not hash" in event["reason"], event
    assert _evidence(event, "bundle") == path.read_bytes()
    # the bundle, the checkpoint, and the tree's leaf at the first wrong entry, proven
    assert len(list((tmp_path / "st").glob("evidence-*"))) == 3


def test_bundles_that_all_fail_are_not_fetched_all_before_the_first_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group whose bundles all fail authentication gives the workers nothing to check; it
    counted nothing in the window of entries fetched ahead, so a log whose every bundle fails
    was fetched whole, each bad bundle held (up to 16 MiB), before the first event. Now its
    entries count: the monitor reads about a window ahead of what it reports."""
    from loglib import TestLog, synthetic_entries

    import tlog.client.monitor as mon
    from tlog.storage import open_store

    log = TestLog(tmp_path / "log", origin=ORIGIN)
    log.append(synthetic_entries(40 * 256))
    log.publish()
    for n in range(40):
        (tmp_path / "log" / f"tile/entries/{n:03d}").write_bytes(b"\xff")  # does not decode
    monkeypatch.setattr(mon, "_GROUP", 1)
    monkeypatch.setattr(mon, "_AHEAD", 1024)  # 4 bundles' entries
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # a pool (one process reads nothing ahead)

    class Counting:
        def __init__(self, store: Any) -> None:
            self.store, self.bundles = store, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.store, name)

        def get_many(self, keys: list[str]) -> Any:
            self.bundles += sum(k.startswith("tile/entries/") for k in keys)
            return self.store.get_many(keys)

    store = Counting(open_store(str(tmp_path / "log")))
    fetched_at_first: list[int] = []

    def emit(event: dict[str, Any]) -> None:
        fetched_at_first.append(store.bundles)

    result = mon.Monitor(store, log.vkey, tmp_path / "st").run_once(emit)
    assert [e["kind"] for e in result.misbehaviour] == ["bad-bundle"] * 40
    assert fetched_at_first[0] <= 6, fetched_at_first  # the window, and the one being prepared


def test_admitted_entry_whose_signature_does_not_verify(signed: Any, served: Any,
                                                        tmp_path: Path) -> None:
    skey, vkey, _ = signed
    root, url = served
    _publish(root, _entries(50, keys=3, bad_at=42), ORIGIN, skey)
    event = _misbehaviour(_monitor(url, vkey, tmp_path / "st"), "bad-entry")
    assert event["index"] == 42 and "does not verify" in event["reason"]
    _offline_evidence_holds(event, vkey, 42, tmp_path)


def test_committed_entry_that_does_not_parse(signed: Any, served: Any, tmp_path: Path) -> None:
    skey, vkey, entries = signed
    root, url = served
    _publish(root, [*entries[:20], b'{"kind": "hashedrekord", "apiVersion": ', *entries[21:40]],
             ORIGIN, skey)
    event = _misbehaviour(_monitor(url, vkey, tmp_path / "st"), "malformed-entry")
    assert event["index"] == 20 and "not a JSON entry" in event["reason"]
    _offline_evidence_holds(event, vkey, 20, tmp_path)


def _offline_evidence_holds(event: dict[str, Any], vkey: str, index: int, tmp: Path) -> None:
    """The evidence is a proof bundle: the log's own signature commits to the bad entry."""
    (path,) = [p for p in event["evidence"] if p.endswith(f"entry-{index}.bundle.json")]
    res = subprocess.run([str(BIN / "tlog"), "verify", "--vkey", vkey, "--bundle", path,
                          "--state", str(tmp / "verifier-state")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"verified: entry {index}" in res.stdout


def test_unknown_entry_type_is_unverified_not_passed(signed: Any, served: Any,
                                                     tmp_path: Path) -> None:
    skey, vkey, entries = signed
    root, url = served
    plugin = canonical_json({"apiVersion": "9.9.9", "kind": "someone-elses-type", "spec": {}})
    _publish(root, [*entries[:10], plugin, *entries[11:20]], ORIGIN, skey)
    res = _monitor(url, vkey, tmp_path / "st")
    assert res.returncode == 4, res.stdout + res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(e["event"], e["index"]) for e in events] == [("unverified", 10)]
    assert "install the log's entry-type plugin" in events[0]["reason"]
    # Not counted among the entries checked (it was: "checked 20 new entries").
    res = subprocess.run([str(BIN / "tlog"), "monitor", "--log", url, "--vkey", vkey,
                          "--state", str(tmp_path / "st2")], capture_output=True, text=True)
    assert res.returncode == 4, res.stderr
    assert res.stderr.splitlines()[-1] == (
        "checked 19 new entries up to size 20; 1 more not re-verified: of types this "
        "installation cannot check (only their encoding, if their plugin is installed)")


def test_a_bad_tile_ahead_does_not_hide_what_came_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The monitor prepares the next group of bundles while the pool re-verifies the one
    before: a tile failing in a later group is reported after everything the earlier groups
    hold, never instead of it (review finding; groups of one bundle here)."""
    from tlog.client import monitor as mon
    from tlog.client.monitor import Monitor
    from tlog.storage import open_store

    skey, _ = generate_key(ORIGIN)
    entries = _entries(1000)  # full tiles 000-002 (off the right edge), then 003.p/232
    root = tmp_path / "log"
    vkey = _publish(root, entries, ORIGIN, skey)
    tile = root / "tile" / "0" / "002"
    data = bytearray(tile.read_bytes())
    data[0] ^= 1
    tile.write_bytes(bytes(data))
    monkeypatch.setattr(mon, "_GROUP", 1)
    digest = next(k for k in _keys(entries[300]) if k.startswith("sha256:"))
    events: list[dict[str, Any]] = []
    result = Monitor(open_store(str(root)), vkey, tmp_path / "st",
                     watch_digests=[digest]).run_once(events.append)
    kinds = [e.get("kind", e["event"]) for e in events]
    assert kinds == ["match", "match", "bad-tile"], kinds  # entries 300 and 301 share it
    assert result.entries_checked == 512
