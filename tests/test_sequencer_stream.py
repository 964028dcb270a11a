"""The admission stream through a run: stopping at a batch boundary, --max-entries, and a
Sequencer reused after a failed run (as `tlog sequence --watch` does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from seqhelpers import check_tree, enqueue, make_log, sequencer, simple_admit
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
    assert len(list(queue.list("queue/"))) == 400  # read ahead, not consumed
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
