"""Hostile queue items: whatever anyone with write access to the queue puts there, each item
ends logged or rejected with a stored reason, once, and the log keeps running (issue 18,
items 0, 4 and 6). Driven through the real CLI, as the cron job runs it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from submissions import ed25519_key, hashedrekord_doc

from sequencer.rejection import KEEP_BYTES, REASON_CHARS, format_rejection
from tlog.client.admission import admit_many
from tlog.storage import open_store

BIN = Path(sys.executable).parent
DEEP = b"[" * 1000 + b"]" * 1000  # json.loads raises RecursionError on it
NEARLY_DEEP = b'{"type": "hashedrekord", "x": ' + b"[" * 990 + b"]" * 990 + b"}"


def tlog(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _log(tmp: Path) -> None:
    assert tlog(tmp, "keygen", "hostile.example/log", "--out", "log").returncode == 0
    res = tlog(tmp, "init", "--store", "public", "--queue", "queue", "--origin",
               "hostile.example/log", "--key", "log.key")
    assert res.returncode == 0, res.stderr


def _sequence(tmp: Path) -> dict[str, object]:
    res = tlog(tmp, "sequence", "--config", "tlog.toml", "--json")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def _valid(i: int) -> bytes:
    key, pem = ed25519_key(7)
    return hashedrekord_doc(key, pem, b"artifact %d" % i)


def test_hostile_documents_are_rejected_and_the_log_goes_on(tmp_path: Path) -> None:
    _log(tmp_path)
    queue = open_store(str(tmp_path / "queue"))
    queue.put("pending/deep.json", DEEP)
    queue.put("pending/nearly-deep.json", NEARLY_DEEP)
    queue.put("pending/binary.json", b"\xff\xfe" * 10 + b"\x00")
    bulk = b"\n".join([_valid(0), DEEP, NEARLY_DEEP, _valid(1)])
    queue.put(f"pending/{hashlib.sha256(bulk).hexdigest()}-4.jsonl", bulk)
    queue.put("pending/with#hash.json", _valid(2))  # a '#' is not a bulk line's mark
    queue.put("pending/notes.txt", _valid(3))  # no queue object's name
    summary = _sequence(tmp_path)
    assert (summary["admitted"], summary["rejected"], summary["size"]) == (3, 6, 3)
    assert list(queue.list("pending/")) == []  # every item handled, none left to stall on
    records = {k: json.loads(queue.get(k)) for k in queue.list("rejected/")}
    assert len(records) == 6  # a single object's record is named by its key, a line's by its bytes
    by_id = {r["id"]: r for r in records.values()}
    assert by_id[hashlib.sha256(DEEP).hexdigest()]["submission_text"] == DEEP.decode()
    assert by_id["deep"]["reason"].startswith("document: not JSON")
    assert by_id["deep"]["submission_text"] == DEEP.decode()
    assert by_id["nearly-deep"]["submission_bytes"] == len(NEARLY_DEEP)
    assert by_id["binary"]["submission_text"].startswith("\\xff\\xfe")
    assert "not a queue object name" in by_id["notes.txt"]["reason"]
    # A second run (a cron job, a `--watch` restart) has nothing left to trip over.
    again = _sequence(tmp_path)
    assert (again["admitted"], again["rejected"], again["size"]) == (0, 0, 3)


def test_a_line_of_a_bulk_object_nested_too_deep(tmp_path: Path) -> None:
    _log(tmp_path)
    queue = open_store(str(tmp_path / "queue"))
    bulk = b"\n".join([_valid(0), DEEP, _valid(1)])
    queue.put(f"pending/{hashlib.sha256(bulk).hexdigest()}-3.jsonl", bulk)
    summary = _sequence(tmp_path)
    assert (summary["admitted"], summary["rejected"]) == (2, 1)
    (record,) = [json.loads(queue.get(k)) for k in queue.list("rejected/")]
    assert record["id"] == hashlib.sha256(DEEP).hexdigest()
    assert list(queue.list("pending/")) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_a_folder_queue_is_no_item(tmp_path: Path) -> None:
    _log(tmp_path)
    queue = open_store(str(tmp_path / "queue"))
    queue.put("pending/ok.json", _valid(0))
    os.mkfifo(queue.local_path("pending/fifo.json"))
    summary = _sequence(tmp_path)  # would block forever reading the FIFO
    assert (summary["admitted"], summary["size"]) == (1, 1)


def test_a_plugin_that_raises_rejects_only_its_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """A type whose code raises something other than a typed error: that document is
    rejected naming the plugin, the others in its chunk are admitted."""
    from tlog.entries import registry

    class Broken:
        name, kind, api_version = "broken", "broken", "0.0.1"

        def parse(self, doc: dict[str, object]) -> object:
            raise KeyError("oops")

        verify = canonical = search_keys = describe = parse

    known = dict(registry.types())
    known["broken"] = Broken()
    monkeypatch.setattr("tlog.entries.submission.types", lambda: known)
    docs = [_valid(0), b'{"type": "broken"}', _valid(1)]
    results = admit_many(docs, workers=1)
    assert [type(r).__name__ for r in results] == ["Admitted", "TlogError", "Admitted"]
    assert str(results[1]).startswith("broken: plugin 'broken' (")
    assert "KeyError" in str(results[1])


def test_rejection_records_are_bounded() -> None:
    huge = b'{"type": "x", "v": "' + b"a" * (KEEP_BYTES * 4) + b'"}'
    record = json.loads(format_rejection("id", "r" * 10 * REASON_CHARS, huge, 0))
    assert len(record["reason"]) == REASON_CHARS
    assert len(record["submission_text"]) == KEEP_BYTES
    assert record["submission_truncated"] is True
    assert record["submission_bytes"] == len(huge)
    small = json.loads(format_rejection("id", "why", b'{"a": [1]}', 0))
    assert small["submission"] == {"a": [1]}
    assert small["rejected_at"] == "1970-01-01T00:00:00Z"


def test_a_lying_index_cannot_make_the_sequencer_drop_a_submission(tmp_path: Path) -> None:
    """Issue 18 item 5: the dedup lookup's hits are checked against the log's tiles; an index
    that names a new submission's leaf hash (at an index holding another entry) is broken,
    and the submission is logged, not dropped as a duplicate."""
    from loglib import plant_index_lie
    from seqhelpers import check_published, enqueue, make_log, sequencer, simple_admit

    from tlog.storage import open_store as store_at

    cfg, _, vkey = make_log(tmp_path)
    store, queue = store_at(cfg.store), store_at(cfg.queue)
    enqueue(queue, [f"value {i}" for i in range(5)])
    assert sequencer(cfg, store, queue).run().size == 5
    fresh = simple_admit([b'{"value": "fresh"}'])[0][1]
    plant_index_lie(store, 5, fresh, 0)  # "fresh is entry 0"
    enqueue(queue, ["fresh"])
    summary = sequencer(cfg, store, queue).run()
    assert (summary.size, summary.stats.admitted, summary.stats.duplicates) == (6, 1, 0)
    assert check_published(store, vkey)[2][5] == b'{"value": "fresh"}'
    # A real duplicate is still dropped: entry 0's leaf hash is confirmed by the tiles.
    enqueue(queue, ["value 0"])
    again = sequencer(cfg, store, queue).run()
    assert (again.size, again.stats.duplicates) == (6, 1)


def test_one_queue_path_means_one_place_and_old_queues_still_drain(tmp_path: Path) -> None:
    """Issue 16 item 3: `--queue ./queue` puts submissions in ./queue/pending/ (not
    ./queue/queue/); items an older version left in ./queue/queue/ are still logged."""
    _log(tmp_path)
    key, pem = ed25519_key(7)
    (tmp_path / "a.tgz").write_bytes(b"a")
    (tmp_path / "a.sig").write_bytes(key.sign(hashlib.sha256(b"a").digest()))
    (tmp_path / "k.pub").write_text(pem)
    res = tlog(tmp_path, "submit", "--queue", "queue", "--artifact", "a.tgz", "--signature",
               "a.sig", "--public-key", "k.pub")
    assert res.returncode == 0, res.stderr
    assert [p.parent.name for p in (tmp_path / "queue").rglob("*.json")] == ["pending"]
    legacy = tmp_path / "queue" / "queue"
    legacy.mkdir()
    doc = _valid(9)
    (legacy / f"{hashlib.sha256(doc).hexdigest()}.json").write_bytes(doc)
    summary = _sequence(tmp_path)
    assert (summary["admitted"], summary["size"]) == (2, 2)
    assert not list((tmp_path / "queue").rglob("*.json"))


def test_queue_objects_are_not_trusted_for_their_size(tmp_path: Path) -> None:
    """Issue 18 item 2: an object over its size limit, or a bulk object holding more
    documents than a bulk object may (whatever its name says), is rejected whole, read only
    up to its limit; the rest of the queue is logged."""
    from tlog.queue import BULK_BYTES, BULK_MAX

    _log(tmp_path)
    queue = open_store(str(tmp_path / "queue"))
    queue.put("pending/huge.json", b'{"type": "hashedrekord", "x": "' + b"a" * (2 << 20) + b'"}')
    many = b"\n".join([_valid(0)] * (BULK_MAX + 1))
    queue.put(f"pending/{hashlib.sha256(many).hexdigest()}-1.jsonl", many)  # "1", it says
    big = b"\n".join([b"x" * (1 << 20)] * (BULK_BYTES // (1 << 20) + 2))  # 66 lines, 66 MiB
    queue.put(f"pending/{hashlib.sha256(big).hexdigest()}-2.jsonl", big)
    queue.put("pending/ok.json", _valid(2))
    summary = _sequence(tmp_path)
    assert (summary["admitted"], summary["rejected"], summary["size"]) == (1, 3, 1)
    reasons = sorted(json.loads(queue.get(k))["reason"] for k in queue.list("rejected/"))
    assert any(f"documents, over the {BULK_MAX} of a bulk object" in r for r in reasons)
    assert sum(" bytes (a document is at most " in r for r in reasons) == 2
    for k in queue.list("rejected/"):  # the records stay small however large the object
        assert len(queue.get(k)) < 1 << 20
    assert list(queue.list("pending/")) == []


def test_killed_writes_leave_nothing_in_the_published_folder(tmp_path: Path) -> None:
    """Issue 18 item 9: a write killed half-way leaves its temporary file outside the
    published folder (a folder sync would publish it: once it held a signed checkpoint), and
    the next run cleans it up."""
    import signal
    import textwrap

    from tlog.storage.local import LocalStore

    root = tmp_path / "public"
    # A process killed in the middle of an overwrite (between writing and renaming).
    killer = textwrap.dedent(f"""
        import os, signal
        from tlog.storage.local import LocalStore
        store = LocalStore({str(root)!r})
        os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
        store.overwrite("checkpoint", b"a signed checkpoint\\n")
    """)
    res = subprocess.run([sys.executable, "-c", killer], capture_output=True)
    assert res.returncode == -signal.SIGKILL
    published = [p for p in root.rglob("*") if p.is_file()]
    assert published == []  # nothing a sync of the folder would publish
    left = [p for p in tmp_path.rglob(".tmp-*") if p.is_file()]
    assert len(left) == 1 and left[0].read_bytes() == b"a signed checkpoint\n"
    os.utime(left[0], (0, 0))  # old enough: its process is gone
    assert LocalStore(root).sweep_temporary() == 1
    assert not left[0].exists()
