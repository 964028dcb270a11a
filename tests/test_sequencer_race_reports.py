"""What a sequencer reports when another commits while it works (issue 18 item 10): only what
it committed itself, and the race in words, never "nothing was published" after batches it
did commit, nor an index object's "not found" when the winner's housekeeping removed it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from seqhelpers import check_published, enqueue, make_log, sequencer

from tlog.storage import open_store

N, BATCH = 200, 50


@pytest.mark.parametrize("index_keep", [0, 1])
def test_a_run_that_loses_after_committing_reports_what_it_committed(
        tmp_path: Path, index_keep: int) -> None:
    cfg, _, vkey = make_log(tmp_path, batch_size=BATCH, index_keep=index_keep)
    enqueue(open_store(cfg.queue), [f"entry {i}" for i in range(N)])
    # A second sequencer of the same log, fed from its own queue.
    rival_cfg = dataclasses.replace(cfg, queue=str(tmp_path / "queue2"))
    enqueue(open_store(rival_cfg.queue), [f"rival {i}" for i in range(3 * BATCH)])
    rival = {"ran": False, "admitted": 0}

    def after_each_batch(_: int) -> None:
        # Once the first run has committed its first batch, the rival commits three: the
        # first run's next commit loses (and, with index_keep = 1, the index manifest of the
        # tree it builds on is gone).
        if not rival["ran"]:
            rival["ran"] = True
            rival["admitted"] = sequencer(rival_cfg).run().stats.admitted

    first = sequencer(cfg, progress=after_each_batch).run()
    assert first.batches == 1 and first.stats.admitted == BATCH
    assert first.lost_race is not None
    assert "another sequencer committed" in first.lost_race
    assert f"this run committed {BATCH} entries in 1 batches before that" in first.lost_race
    assert "not found" not in first.lost_race.split("(")[0]
    # What the runs report adds up to what the log holds, each entry once.
    again = sequencer(cfg).run()
    assert again.lost_race is None
    size, _, entries = check_published(open_store(cfg.store), vkey)
    reported = first.stats.admitted + rival["admitted"] + again.stats.admitted
    assert reported == size == N + 3 * BATCH == len(set(entries))
    assert first.as_json()["lost_race"] == first.lost_race
