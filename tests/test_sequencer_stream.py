"""The admission stream through a run: stopping at a batch boundary, --max-entries, and a
Sequencer reused after a failed run (as `tlog sequence --watch` does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from seqhelpers import check_tree, enqueue, make_log, sequencer, simple_admit, submission
from submissions import hashedrekord_docs

from tlog.errors import StoreError
from tlog.storage import open_store


def test_stop_request_ends_the_run_at_a_batch_boundary(tmp_path: Path) -> None:
    """Real signed submissions on the worker pool, which reads well ahead of the batch
    being committed: a stop request still ends the run after that batch."""
    cfg, _, _ = make_log(tmp_path, batch_size=100)
    queue = open_store(cfg.queue)
    for key, doc in hashedrekord_docs(500, seed=3):
        queue.put(key, doc)
    done: list[int] = []
    seq = sequencer(cfg, admit=None, progress=done.append)
    summary = seq.run(should_stop=lambda: bool(done))
    assert (summary.batches, summary.size) == (1, 100)
    assert len(list(queue.list("pending/"))) == 400  # read ahead, not consumed
    assert seq.run().size == 500  # the next run takes the rest


def test_max_entries_counts_submissions(tmp_path: Path) -> None:
    cfg, _, _ = make_log(tmp_path, batch_size=100)
    enqueue(open_store(cfg.queue), [f"v{i}" for i in range(500)])
    summary = sequencer(cfg).run(max_entries=250)
    assert (summary.size, summary.batches) == (250, 3)


def test_a_failed_run_leaves_nothing_held_for_the_next(tmp_path: Path) -> None:
    cfg, _, _ = make_log(tmp_path, batch_size=100)
    queue = open_store(cfg.queue)
    enqueue(queue, [f"v{i}" for i in range(300)])
    calls = {"n": 0}

    def flaky(docs: list[bytes]) -> list[object]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise StoreError("injected: the queue went away mid-run")
        return simple_admit(docs)

    seq = sequencer(cfg, admit=flaky)
    with pytest.raises(StoreError):
        seq.run()
    summary = seq.run()  # same Sequencer, as the daemon loop reuses it
    assert summary.size == 300
    check_tree(open_store(cfg.store), 300, bytes.fromhex(summary.root))


def test_queue_is_read_in_bounded_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's queue objects are read a few at a time, and no more than about
    ``ADMIT_BYTES`` of documents are held before admission has taken them (large DSSE
    envelopes must not all sit in memory at once); the log is the same as ever."""
    from sequencer import intake

    monkeypatch.setattr(intake, "ADMIT_BYTES", 2_000)
    monkeypatch.setattr(intake, "READ_GROUP", 4)
    cfg, _, _ = make_log(tmp_path, batch_size=100)
    queue = open_store(cfg.queue)
    enqueue(queue, [f"v{i:03d}" + "x" * 200 for i in range(300)])
    seen = {"fetched": 0, "admitted": 0, "held": 0, "calls": 0}
    # Queue reads, and the most bytes read but not yet handed to admission.

    class Reads:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def get_range(self, key: str, start: int, end: int) -> bytes:
            # Queue objects are read up to their size limit (one document: 1 MiB + 1).
            assert (start, end) == (0, (1 << 20) + 1)
            seen["calls"] += 1
            out = self.inner.get_range(key, start, end)  # type: ignore[attr-defined]
            seen["fetched"] += len(out)
            seen["held"] = max(seen["held"], seen["fetched"] - seen["admitted"])
            return out

    def admit(docs: list[bytes]) -> list[object]:
        seen["admitted"] += sum(map(len, docs))
        return simple_admit(docs)

    summary = sequencer(cfg, queue=Reads(queue), admit=admit).run()
    assert (summary.size, summary.batches) == (300, 3)
    assert seen["calls"] == 300  # each object read once, 4 at a time
    one = len(submission("v000" + "x" * 200)[1])  # every document has this size
    # A piece (topped up by one group past the limit), and the last task of the piece before.
    assert 0 < seen["held"] <= 2_000 + 8 * one
    check_tree(open_store(cfg.store), 300, bytes.fromhex(summary.root))
