"""The sequencer deletes superseded index manifests and the level objects only they name,
keeping the newest ``index_keep``: the index stays the size of the log, not of its history."""

from __future__ import annotations

from pathlib import Path

import pytest
from seqhelpers import enqueue, make_log, sequencer

from sequencer.config import format_config, load_config
from tlog.client import LogClient, open_log_checkpoint
from tlog.errors import ConfigError, NotFoundError
from tlog.index import index_paths, parse_manifest
from tlog.merkle import leaf_hash
from tlog.storage import open_store


def test_old_manifests_and_what_only_they_name_are_deleted(tmp_path: Path) -> None:
    cfg, _, vkey = make_log(tmp_path, batch_size=20, index_keep=3)
    enqueue(open_store(cfg.queue), [f"v{i}" for i in range(200)])
    notes: list[bytes] = []
    summary = sequencer(cfg, after_publish=notes.append).run()
    assert (summary.size, summary.batches) == (200, 10)
    store = open_store(cfg.store)
    manifests = list(store.list("index/manifest/"))
    assert manifests == ["index/manifest/160", "index/manifest/180", "index/manifest/200"]
    named = set().union(*(index_paths(parse_manifest(store.get(m))) for m in manifests))
    present = {k for k in store.list("index/") if not k.startswith("index/manifest/")}
    assert present == named  # nothing a kept manifest names is gone, nothing else is left
    client = LogClient(store, vkey)
    for index in (0, 57, 133, 199):  # found through the newest manifest
        entry = client.entry(index)
        assert client.find(leaf_hash(entry.entry)).index == index
    # A client holding an older checkpoint (its manifest deleted) is served by the newest.
    published = [open_log_checkpoint(n, client.verifier, client.origin, client.policy)
                 for n in notes]
    (old,) = [cp for cp in published if cp.size == 100]
    for index in (0, 57, 99):
        entry = client.entry(index, old)
        found = client.find(leaf_hash(entry.entry), old)
        assert (found.index, found.checkpoint.size) == (index, 100)
    # An entry logged after that checkpoint is not in its tree: not found there (the newest
    # manifest naming it beyond the tree's size is no sign of a broken index).
    newer = client.entry(150)
    with pytest.raises(NotFoundError, match="at size 100"):
        client.find(leaf_hash(newer.entry), old)


def test_index_keep_zero_keeps_everything(tmp_path: Path) -> None:
    cfg, _, _ = make_log(tmp_path, batch_size=20, index_keep=0)
    enqueue(open_store(cfg.queue), [f"v{i}" for i in range(100)])
    sequencer(cfg).run()
    assert len(list(open_store(cfg.store).list("index/manifest/"))) == 5


def test_index_keep_in_the_config(tmp_path: Path) -> None:
    cfg, _, _ = make_log(tmp_path, index_keep=5)
    path = tmp_path / "tlog.toml"
    path.write_text(format_config(cfg))
    assert "index_keep = 5" in path.read_text()
    assert load_config(str(path)).index_keep == 5
    path.write_text(path.read_text().replace("index_keep = 5", "index_keep = -1"))
    with pytest.raises(ConfigError, match=r"sequencer\.index_keep: must be 0"):
        load_config(str(path))
