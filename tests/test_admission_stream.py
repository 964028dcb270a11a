"""Streaming admission (what the sequencer runs): the same verdicts as ``admit``, in order,
with a bounded number of documents in flight, on a real process pool."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
from signers import signer

from tlog.client.admission import _POOLS, _pool, admit_stream, chunk_documents, task_spans
from tlog.entries import admit
from tlog.errors import MalformedError, VerificationError
from tlog.index import search_key


def _docs(n: int) -> list[bytes]:
    s = signer("ed25519")
    from test_entries import hashedrekord

    docs = [json.dumps(hashedrekord(s, b"artifact %d" % i)).encode() for i in range(n)]
    docs[7] = b"[]"
    bad = json.loads(docs[11])
    bad["digest"] = "sha256:" + "00" * 32
    docs[11] = json.dumps(bad).encode()
    return docs


def _expected(doc: bytes) -> object:
    try:
        a = admit(doc)
    except (MalformedError, VerificationError) as e:
        return (type(e), str(e))
    return (a.entry, a.leaf_hash, b"".join(search_key(k) for k in a.search_keys))


def _seen(r: object) -> object:
    return (type(r), str(r)) if isinstance(r, Exception) else r


@pytest.mark.parametrize("workers", [1, 2])
def test_stream_matches_admit_in_order(workers: int) -> None:
    docs = _docs(300)
    chunks = [(i, part) for i, part in enumerate(chunk_documents(docs, 2))]
    out = list(admit_stream(chunks, workers, window=64))
    assert [tag for tag, _ in out] == list(range(len(chunks)))
    got = [_seen(r) for _, part in out for r in part]
    assert got == [_expected(d) for d in docs]
    assert got[7] == (MalformedError, "document: expected a JSON object")
    assert got[11] == (VerificationError,
                       "hashedrekord.signature: does not verify with the given public key")


def _counted_chunks(docs: list[bytes], pulled: list[int]) -> Iterator[tuple[int, list[bytes]]]:
    """Chunks of 8 tagged by their first index, noting in ``pulled`` each one read."""
    for i in range(0, len(docs), 8):
        pulled.append(i)
        yield i, docs[i : i + 8]


def test_stream_pulls_chunks_only_as_the_window_frees_up() -> None:
    pulled: list[int] = []
    stream = admit_stream(_counted_chunks(_docs(64), pulled), 2, window=16)
    first_tag, first = next(stream)
    assert first_tag == 0 and len(first) == 8
    assert len(pulled) == 2  # 16 documents in flight when the first result is handed over
    stream.close()  # the consumer stops: the rest is never read from the queue
    assert len(pulled) == 2


def test_stream_window_is_bounded_in_bytes_too() -> None:
    docs, pulled = _docs(64), []
    one_chunk = sum(map(len, docs[:8]))
    stream = admit_stream(_counted_chunks(docs, pulled), 2, window=10_000,
                          window_bytes=2 * one_chunk)
    assert next(stream)[0] == 0
    assert len(pulled) == 2  # two chunks' bytes in flight, not 10,000 documents
    assert [tag for tag, _ in stream] == list(range(8, 64, 8))


def test_task_spans_cover_every_document_once_and_taper() -> None:
    for n in [0, 1, 7, 100, 511, 512, 513, 4096, 10_000, 100_001]:
        spans = task_spans(n, 2)
        assert [i for a, b in spans for i in range(a, b)] == list(range(n))
        assert all(0 < b - a <= 512 for a, b in spans)
        if n >= 10_000:
            assert spans[-1][1] - spans[-1][0] < spans[0][1] - spans[0][0]


def test_workers_exit_when_their_parent_is_killed() -> None:
    """A child process that owns a pool is SIGKILLed; its workers notice and exit."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the sequencer stand-in: start workers, report their pids, wait to die
        os.close(read)
        _POOLS.clear()
        pool = _pool(2)
        list(pool.map(abs, range(4)))
        os.write(write, json.dumps(list(pool._processes)).encode())
        time.sleep(60)
        os._exit(0)
    os.close(write)
    pids = json.loads(os.read(read, 1000))
    os.close(read)
    assert len(pids) == 2
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    deadline = time.monotonic() + 10
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rpartition(")")[2].split()[0] == "Z":
                        alive.discard(pid)  # exited, not yet reaped by init
            except FileNotFoundError:
                alive.discard(pid)
        time.sleep(0.1)
    for pid in alive:  # do not leave them behind (they hold the test run's output pipes)
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their parent"


def test_index_keys_are_distinct() -> None:
    """The sequencer files a worker's index keys unchecked, so each must appear once, even
    when an entry type (a plugin, say) names one search key twice, or in two spellings that
    are the same key (``search_key`` ignores case)."""
    from tlog.entries.submission import _log_entry

    class Twice:
        name = "twice"

        def canonical(self, parsed: object) -> bytes:
            return b'{"twice":1}'

        def parsed_search_keys(self, parsed: object) -> list[str]:
            return ["sha256:" + "AB" * 32, "sha256:" + "ab" * 32, "key:1", "key:1"]

    _, _, keys = _log_entry({}, Twice(), None)
    assert keys == search_key("sha256:" + "ab" * 32) + search_key("key:1")
