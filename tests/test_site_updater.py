"""The site's pages are rebuilt once per published checkpoint, not by every idle run (each
rebuild is a PUT per page on a bucket), and `tlog serve` rebuilds them at most every so often,
writing the last checkpoint when it stops."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from seqhelpers import enqueue, make_log, sequencer

from sequencer.site import PAGES, SiteUpdater
from tlog.storage import open_store


class Counting:
    """A store that counts page writes."""

    def __init__(self, store: Any) -> None:
        self.store, self.writes = store, 0

    def overwrite(self, key: str, data: bytes) -> None:
        self.writes += 1
        self.store.overwrite(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_an_idle_run_does_not_rewrite_the_pages(tmp_path: Path) -> None:
    cfg, _, _ = make_log(tmp_path)
    cfg = dataclasses.replace(cfg, site=True, vkey=cfg.verifier_key())
    store = open_store(cfg.store)
    counting = Counting(store)
    pages = SiteUpdater(cfg, counting)
    enqueue(open_store(cfg.queue), ["a", "b"])
    seq = sequencer(cfg, store=store, after_publish=pages)
    seq.run()
    assert b"<td>2</td>" in store.get("index.html")
    written = counting.writes
    seq.run()  # nothing queued: the same checkpoint is republished, the pages stay
    assert counting.writes == written
    enqueue(open_store(cfg.queue), ["c"])
    seq.run()
    assert counting.writes == written + len(PAGES) and b"<td>3</td>" in store.get("index.html")


def test_pages_are_rebuilt_at_most_every_so_often_and_flushed_at_the_end(tmp_path: Path) -> None:
    cfg, _, _ = make_log(tmp_path)
    cfg = dataclasses.replace(cfg, site=True, vkey=cfg.verifier_key())
    store = open_store(cfg.store)
    now = [0.0]
    pages = SiteUpdater(cfg, store, every=10.0, clock=lambda: now[0])
    seq = sequencer(cfg, store=store, after_publish=pages)
    for value, t in (("a", 0.0), ("b", 1.0), ("c", 2.0)):
        now[0] = t
        enqueue(open_store(cfg.queue), [value])
        seq.run()
    shown = store.get("index.html")  # built at t=0 for the empty log; then too soon
    assert b"<th>Tree size</th><td>0</td>" in shown
    pages.flush()
    assert store.get("index.html") == shown
    now[0] = 11.0
    pages.flush()  # its time has come: the last published checkpoint
    assert b"<td>3</td>" in store.get("index.html")
    enqueue(open_store(cfg.queue), ["d"])
    seq.run()
    pages.flush(force=True)  # a server stopping
    assert b"<td>4</td>" in store.get("index.html")
