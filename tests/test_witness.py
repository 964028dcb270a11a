"""The witness: spec vectors byte for byte, every protocol error over real HTTP (uvicorn on
loopback), and 50 concurrent requests that must never move its state backwards."""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import witness_server
from test_vectors import LEAVES, ListReader

from tlog.checkpoint import Checkpoint, format_checkpoint
from tlog.client.witness import WitnessSpec, cosign_with
from tlog.cosignature import CosignatureSigner, parse_any_verifier
from tlog.errors import StoreError, VerificationError
from tlog.merkle import EMPTY_ROOT, leaf_hash, prove_consistency, tree_root
from tlog.note import generate_key, new_signer, open_note, sign_note
from tlog.witness_protocol import format_add_checkpoint, parse_add_checkpoint
from witness.handler import ForkDetected, SizeMismatch, add_checkpoint
from witness.state import LogState, WitnessState

# vectors.md §8: fixed log and witness keys, the size-8 checkpoint and the witness request.
LOG_SKEY = "PRIVATE+KEY+example.com/log+d455c521+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
LOG_VKEY = "example.com/log+d455c521+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
W_SEED = bytes(range(0x20, 0x40))
W_VKEY = "witness.example/w1+20324abe+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X"
NOTE8 = ("example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
         "— example.com/log 1FXFIQghEbt48JV0nbbvyoj51oOGWi8PWVu51z3js1zWy2qLhh2zcvy6M2X+e8pEVRpG"
         "R/9z7MVVru29jIzLkdPuEwg=\n").encode()
REQUEST = (b"old 6\nDrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=\n"
           b"yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=\n"
           b"037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=\n\n") + NOTE8
LINE = ("— witness.example/w1 IDJKvgAAAABlU/EA5qoXb2upYCVvwU57HyfnAEFRmLcQJPcjxRBvQm06RwFL5yc6"
        "USs37aZKNWAqDA8Mlem5PPKrnJ0Kitk8yjXCDA==\n").encode()
ORIGIN = "example.com/log"

# A longer tree for growth beyond the vectors: the §1 leaves, then more.
ALL = [leaf_hash(e) for e in LEAVES] + [leaf_hash(b"leaf %d" % i) for i in range(8, 80)]


def _reader(n: int) -> ListReader:
    return ListReader(ALL[:n])


def root(n: int) -> bytes:
    return tree_root(n, _NodeReader(n)) if n else EMPTY_ROOT


class _NodeReader:
    def __init__(self, n: int) -> None:
        self.r = _reader(n)

    def read_hashes(self, indexes: list[tuple[int, int]]) -> list[bytes]:
        return [self.r.node(h, k) for h, k in indexes]


def note(n: int, *, origin: str = ORIGIN, skey: str = LOG_SKEY, r: bytes | None = None) -> bytes:
    cp = Checkpoint(origin, n, root(n) if r is None else r)
    return sign_note(format_checkpoint(cp), new_signer(skey))


def proof(old: int, new: int) -> list[bytes]:
    return prove_consistency(old, new, _NodeReader(new)) if 0 < old < new else []


def request(old: int, new: int, **kw: object) -> bytes:
    return format_add_checkpoint(old, proof(old, new), note(new, **kw))  # type: ignore[arg-type]


def witness_signer(clock: float = 1700000000) -> CosignatureSigner:
    return CosignatureSigner("witness.example/w1", W_SEED, clock=lambda: clock)


# ----- vectors ---------------------------------------------------------------------------------


def test_note_and_request_bytes_match_the_vectors() -> None:
    assert note(8) == NOTE8
    assert format_add_checkpoint(6, proof(6, 8), NOTE8) == REQUEST
    parsed = parse_add_checkpoint(REQUEST)
    assert (parsed.old, list(parsed.proof), parsed.note) == (6, proof(6, 8), NOTE8)
    assert witness_signer().verifier().vkey == W_VKEY


def test_cosignature_line_matches_the_vector() -> None:
    state = LogState(ORIGIN, (LOG_VKEY,), 6, root(6), note(6))
    acc = add_checkpoint(REQUEST, {ORIGIN: state}.get, witness_signer())
    assert acc.body == LINE
    assert (acc.size, acc.root) == (8, root(8))
    assert acc.note == NOTE8 + LINE  # the stored note: log signature, then the cosignature
    opened = open_note(acc.note, [new_signer(LOG_SKEY).verifier(), parse_any_verifier(W_VKEY)])
    assert len(opened.sigs) == 2


def test_handler_decisions_without_http() -> None:
    state = LogState(ORIGIN, (LOG_VKEY,), 8, root(8), NOTE8 + LINE)
    with pytest.raises(SizeMismatch) as e:
        add_checkpoint(REQUEST, {ORIGIN: state}.get, witness_signer())
    assert e.value.size == 8
    with pytest.raises(ForkDetected) as fork:
        add_checkpoint(format_add_checkpoint(8, [], note(8, r=b"\x01" * 32)),
                       {ORIGIN: state}.get, witness_signer())
    assert fork.value.cosigned == NOTE8 + LINE


# ----- over HTTP -------------------------------------------------------------------------------


def _witness_dir(tmp: Path, size: int = 6, workers: int = 1) -> Path:
    signer = witness_signer()
    (tmp / "w1.key").write_text(signer.skey + "\n")
    (tmp / "witness.toml").write_text(f'key_file = "w1.key"\nstate = "w1.db"\n'
                                      f'workers = {workers}\n')
    state = WitnessState(tmp / "w1.db")
    state.add_log(ORIGIN, [LOG_VKEY])
    if size:
        start = state.get(ORIGIN)
        assert start is not None
        assert state.compare_and_swap(start, size, root(size), note(size))
    return tmp / "witness.toml"


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[tuple[str, WitnessState]]:
    config = _witness_dir(tmp_path)
    with witness_server(config) as url:
        yield url, WitnessState(tmp_path / "w1.db")


def _post(url: str, body: bytes) -> requests.Response:
    return requests.post(url + "/add-checkpoint", data=body, timeout=10)


def test_every_status_over_http(witness: tuple[str, WitnessState]) -> None:
    url, state = witness
    # 200: one cosignature line, valid for the witness key over the checkpoint.
    ok = _post(url, REQUEST)
    assert ok.status_code == 200, ok.text
    assert ok.content.startswith("— witness.example/w1 ".encode())
    assert ok.content.count(b"\n") == 1
    merged = open_note(NOTE8 + ok.content, [parse_any_verifier(W_VKEY)])
    assert [s.name for s in merged.sigs] == ["witness.example/w1"]
    got = state.get(ORIGIN)
    assert got is not None and (got.size, got.root) == (8, root(8))
    # 409: the same request again; the body is the witness's size.
    again = _post(url, REQUEST)
    assert (again.status_code, again.content) == (409, b"8\n")
    assert again.headers["content-type"] == "text/x.tlog.size"
    # 200 again for the same tree (a refresh), from the right size.
    assert _post(url, format_add_checkpoint(8, [], NOTE8)).status_code == 200
    # 422: a bad consistency proof.
    bad = proof(8, 20)
    bad[0] = bytes(32)
    r = _post(url, format_add_checkpoint(8, bad, note(20)))
    assert r.status_code == 422 and "consistency proof from 8 to 20 fails" in r.text
    # 422 and a recorded fork: size 8 again, with another root, validly signed.
    forked = note(8, r=b"\x07" * 32)
    r = _post(url, format_add_checkpoint(8, [], forked))
    assert r.status_code == 422 and "a different root for size 8" in r.text
    (fork,) = state.forks(ORIGIN)
    assert (fork.size, fork.offered_note) == (8, forked)
    assert fork.cosigned_note.startswith(NOTE8)
    # 404: a log this witness does not follow.
    other = generate_key("other.example/log")[0]
    r = _post(url, format_add_checkpoint(0, [], note(3, origin="other.example/log",
                                                        skey=other)))
    assert r.status_code == 404 and "unknown log 'other.example/log'" in r.text
    # 403: the log's signature altered.
    tampered = NOTE8.replace(b"1FXFIQgh", b"1FXFIQgi")
    r = _post(url, format_add_checkpoint(8, [], tampered))
    assert r.status_code == 403 and "invalid log signature" in r.text
    # 403: signed by a key the witness does not know for this origin.
    stranger = sign_note(format_checkpoint(Checkpoint(ORIGIN, 8, root(8))),
                         new_signer(_fresh_log_key()))
    r = _post(url, format_add_checkpoint(8, [], stranger))
    assert r.status_code == 403 and "no signature by a known key" in r.text
    # 400: malformed bodies.
    for body, words in ((b"hello", "no empty line"),
                        (b"old 06\n\n" + NOTE8, "old <size>"),
                        (b"old 8\nnot-base64!\n\n" + NOTE8, "proof[0]"),
                        (format_add_checkpoint(9, [], NOTE8), "old size 9 is beyond")):
        r = _post(url, body)
        assert r.status_code == 400 and words in r.text, (body, r.text)
    # 413: an oversize body, refused without reading it all.
    r = _post(url, b"old 0\n\n" + b"x" * (200 * 1024))
    assert r.status_code == 413 and "over 131072 bytes" in r.text
    # None of that moved the state.
    got = state.get(ORIGIN)
    assert got is not None and got.size == 8
    # The monitoring endpoint serves the cosigned checkpoint.
    r = requests.get(f"{url}/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint",
                     timeout=10)
    assert r.status_code == 200 and r.content.startswith(NOTE8)
    # Routes: a wrong method is 405 with the allowed ones, an unknown path 404.
    r = requests.get(url + "/add-checkpoint", timeout=10)
    assert (r.status_code, r.headers["allow"]) == (405, "POST")
    assert requests.post(url + "/", data=b"x", timeout=10).status_code == 405
    assert requests.get(url + "/a/b/checkpoint", timeout=10).status_code == 404
    assert requests.get(url + "/" + "0" * 64 + "/checkpoint", timeout=10).status_code == 404


def test_answers_follow_a_state_another_process_moved(
        witness: tuple[str, WitnessState]) -> None:
    """A witness process answers from the state it last knew (no database read per request);
    another worker moving the log's state must not make it refuse a right request or accept a
    wrong one."""
    url, state = witness
    assert _post(url, REQUEST).status_code == 200  # this process now knows size 8

    def elsewhere(size: int) -> None:  # another worker cosigns the log up to ``size``
        now = state.get(ORIGIN)
        assert now is not None and state.compare_and_swap(now, size, root(size), note(size))

    elsewhere(20)
    r = _post(url, format_add_checkpoint(20, proof(20, 30), note(30)))
    assert r.status_code == 200, r.text  # not 409 "8": the size it knew is out of date
    elsewhere(40)
    r = _post(url, format_add_checkpoint(30, proof(30, 50), note(50)))
    assert (r.status_code, r.content) == (409, b"40\n")  # the size now, not 30
    got = state.get(ORIGIN)
    assert got is not None and got.size == 40


def test_a_key_replaced_while_serving_is_no_longer_accepted(
        witness: tuple[str, WitnessState]) -> None:
    """`tlog witness add-log` replaces a log's keys while the witness runs (a key rotated away
    after a compromise): the next checkpoint signed by the old key is refused, though the
    process had checked one with it a moment before; the new key's is cosigned."""
    url, state = witness
    assert _post(url, REQUEST).status_code == 200
    new_skey, new_vkey = generate_key(ORIGIN)
    assert not state.add_log(ORIGIN, [new_vkey])
    r = _post(url, format_add_checkpoint(8, proof(8, 9), note(9)))
    assert r.status_code == 403 and "no signature by a known key" in r.text
    r = _post(url, format_add_checkpoint(8, proof(8, 9), note(9, skey=new_skey)))
    assert r.status_code == 200, r.text
    got = state.get(ORIGIN)
    assert got is not None and got.size == 9 and got.vkeys == (new_vkey,)


def test_one_access_line_per_request_says_what_was_cosigned(tmp_path: Path) -> None:
    """The witness's own access line: one per request, the log and size it cosigned, the path
    as sent (a percent-encoded newline cannot forge a line of its own)."""
    log = tmp_path / "log"
    with witness_server(_witness_dir(tmp_path), log=log) as url:
        assert _post(url, REQUEST).status_code == 200
        assert _post(url, REQUEST).status_code == 409
        assert requests.get(url + "/%0aINFO:%20forged", timeout=10).status_code == 404
    lines = log.read_text().splitlines()
    posts = [x for x in lines if "/add-checkpoint" in x]
    assert len(posts) == 2
    assert posts[0].endswith('"POST /add-checkpoint HTTP/1.1" 200 cosigned example.com/log at '
                             'size 8')
    assert posts[1].endswith('"POST /add-checkpoint HTTP/1.1" 409')
    assert any(x.endswith('"GET /%0AINFO:%20forged HTTP/1.1" 404') for x in lines)
    assert not any("forged" in x and "GET" not in x for x in lines)


class _Writes:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


@pytest.fixture
def access_to() -> Iterator[_Writes]:
    """The witness's log lines, configured as `tlog witness serve` does, into a list; the
    logger as it was afterwards."""
    import logging

    from witness import access

    log = logging.getLogger(access.LOGGER)
    before = (log.level, log.propagate, list(log.handlers), access._access)
    stream = _Writes()
    access.configure(stream)  # type: ignore[arg-type]
    yield stream
    log.level, log.propagate, access._access = before[0], before[1], before[3]
    log.handlers[:] = before[2]


def test_access_lines_of_one_loop_turn_go_in_one_write(access_to: _Writes) -> None:
    import asyncio
    import logging

    from witness.access import LOGGER

    log = logging.getLogger(LOGGER)
    log.info("outside the loop")  # written at once
    assert access_to.writes == ["INFO:     outside the loop\n"]

    async def turn() -> None:
        log.info("one")
        log.info("two")
        assert len(access_to.writes) == 1  # not yet: at the end of this turn
        await asyncio.sleep(0)
        log.info("three")
        await asyncio.sleep(0)

    asyncio.run(turn())
    assert access_to.writes[1:] == ["INFO:     one\nINFO:     two\n", "INFO:     three\n"]


def _call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request to an ASGI app in this process: (status, body)."""
    import asyncio

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "http_version": "1.1", "client": ("127.0.0.1", 9), "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


def test_a_state_that_cannot_be_read_is_503_and_a_failure_is_still_a_line(
        tmp_path: Path, access_to: _Writes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state failing to read is the witness's trouble, not the request's: 503 and retry
    (it was 500, 'internal error'). A request the app fails on still gets its access line."""
    from tlog.errors import StoreError
    from witness.server import make_app

    _witness_dir(tmp_path)
    state = WitnessState(tmp_path / "w1.db")
    app = make_app(state, witness_signer())

    def unreadable(*_: object) -> None:
        raise StoreError("witness state: disk I/O error", key="w1.db")

    monkeypatch.setattr(state, "get", unreadable)
    status, said = _call(app, "POST", "/add-checkpoint", REQUEST)
    assert (status, said) == (503, b"the witness's state is unavailable; retry\n")
    monkeypatch.setattr(state, "logs", unreadable)
    assert _call(app, "GET", "/")[0] == 503
    assert _call(app, "GET", "/" + "0" * 64 + "/checkpoint")[0] == 503

    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(state, "logs", broken)
    with pytest.raises(RuntimeError):
        _call(app, "GET", "/")
    lines = "".join(access_to.writes).splitlines()
    assert any(x.startswith("ERROR:") and "disk I/O error" in x for x in lines), lines
    assert any(x.endswith('"POST /add-checkpoint HTTP/1.1" 503') for x in lines), lines
    assert lines[-1].endswith('"GET / HTTP/1.1" 500 (the witness failed or stopped; uvicorn '
                              'answers 500 if it can)'), lines


def test_keys_stored_with_a_blank_line_still_match_their_swap(tmp_path: Path) -> None:
    """The swap compares a log's keys as the state reads them: a key list stored with a blank
    line (by hand, or through the API) must not fail every swap of that log for good."""
    state = WitnessState(tmp_path / "w.db")
    state.add_log(ORIGIN, [LOG_VKEY, ""])
    now = state.get(ORIGIN)
    assert now is not None and now.vkeys == (LOG_VKEY,)
    assert state.compare_and_swap(now, 8, root(8), NOTE8)


def test_a_write_waits_for_another_process_write_then_gives_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A swap while another process holds SQLite's write lock (another worker committing its
    group) waits for it in its own short steps and then commits; held past the wait, it fails
    as the state's error (503 to the request), never a half-written state."""
    import sqlite3
    import time

    from witness import state as witness_state

    _witness_dir(tmp_path, size=0)
    state = WitnessState(tmp_path / "w1.db")
    other = sqlite3.connect(tmp_path / "w1.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the other worker's commit, under way
    steps: list[float] = []
    sleep = time.sleep

    def step(seconds: float) -> None:  # the first step waited: the other commits meanwhile
        steps.append(seconds)
        if other.in_transaction:
            other.execute("COMMIT")
        sleep(seconds)

    monkeypatch.setattr(witness_state.time, "sleep", step)
    now = state.get(ORIGIN)
    assert now is not None and state.compare_and_swap(now, 8, root(8), NOTE8)
    assert steps == [witness_state._BUSY_STEP]  # it waited, once, and committed
    monkeypatch.undo()
    other.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(witness_state, "_BUSY_WAIT", 0.2)
    now = state.get(ORIGIN)
    with pytest.raises(StoreError, match="locked"):
        state.compare_and_swap(now, 9, root(9), note(9))  # type: ignore[arg-type]
    other.execute("ROLLBACK")
    other.close()
    got = state.get(ORIGIN)
    assert got is not None and got.size == 8


def test_a_failed_commit_leaves_the_state_writable(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A COMMIT that fails (a full disk: a stand-in connection fails it once, as a real file
    cannot be made to on demand) is the state's error for that swap; the connection leaves
    its transaction, so the next swap commits (it was refused for good: 'cannot start a
    transaction within a transaction', while holding the write lock)."""
    import sqlite3

    _witness_dir(tmp_path, size=0)
    state = WitnessState(tmp_path / "w1.db")
    real = state._db(True)

    class FullDisk:
        failed = False

        def execute(self, sql: str, *args: Any) -> Any:
            if sql == "COMMIT" and not FullDisk.failed:
                FullDisk.failed = True
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(state, "_db", lambda write=False: FullDisk() if write else real)
    now = state.get(ORIGIN)
    with pytest.raises(StoreError, match="disk is full"):
        state.compare_and_swap(now, 8, root(8), NOTE8)  # type: ignore[arg-type]
    assert not real.in_transaction
    now = state.get(ORIGIN)
    assert now is not None and now.size == 0
    assert state.compare_and_swap(now, 8, root(8), NOTE8)


def test_known_states_never_move_back(tmp_path: Path) -> None:
    """A swap stored late (its group committed before a fresh read found the log further on)
    does not move the process's known state back."""
    from witness.state import KnownStates

    _witness_dir(tmp_path, size=8)
    state = WitnessState(tmp_path / "w1.db")
    known = KnownStates(state)
    at8 = known.read(ORIGIN)
    assert at8 is not None and state.compare_and_swap(at8, 20, root(20), note(20))
    assert known.read(ORIGIN, fresh=True).size == 20  # type: ignore[union-attr]
    known.stored(LogState(ORIGIN, at8.vkeys, 9, root(9), note(9)))
    assert known.read(ORIGIN).size == 20  # type: ignore[union-attr]


class _Groups:
    """A state that records each group the commit hands it, and fails when told to (a stand-in
    for SQLite: a failing disk, on demand, is what a real file cannot be made to be)."""

    def __init__(self) -> None:
        self.groups: list[int] = []
        self.fail = False

    def compare_and_swap_many(self, ops: list[Any]) -> list[bool]:
        import time

        time.sleep(0.01)  # a commit takes a while: the others queue meanwhile
        self.groups.append(len(ops))
        if self.fail:
            raise StoreError("witness state: disk full", key="w.db")
        return [op[1] % 2 == 0 for op in ops]


def test_group_commit_answers_every_request_whatever_a_group_does() -> None:
    """Groups of at most ``most``, each request its own answer; a group's error goes to each
    of its requests and the next group still commits; a writer that cannot take a group
    answers its requests with the error rather than leaving them, and all later ones,
    waiting."""
    import asyncio

    from witness.server import GroupCommit

    groups = _Groups()

    async def run() -> None:
        commits = GroupCommit(groups, most=3)  # type: ignore[arg-type]
        answers = await asyncio.gather(*[commits.swap((None, n, b"", b"")) for n in range(10)])
        assert answers == [n % 2 == 0 for n in range(10)]
        assert max(groups.groups) <= 3 and sum(groups.groups) == 10
        groups.fail = True
        failed = await asyncio.gather(*[commits.swap((None, n, b"", b"")) for n in range(4)],
                                      return_exceptions=True)
        assert all(isinstance(e, StoreError) for e in failed), failed
        groups.fail = False
        assert await asyncio.wait_for(commits.swap((None, 2, b"", b"")), 5)
        commits._writer.shutdown()
        with pytest.raises(RuntimeError):  # said, not a request left waiting
            await asyncio.wait_for(commits.swap((None, 2, b"", b"")), 5)
        groups.groups.clear()
        with pytest.raises(RuntimeError):  # and the next is not stuck behind it either
            await asyncio.wait_for(commits.swap((None, 4, b"", b"")), 5)

    asyncio.run(run())


@given(st.lists(st.tuples(st.sampled_from(["a.example/log", "b.example/log"]),
                          st.integers(0, 3), st.integers(0, 2), st.integers(0, 1),
                          st.integers(0, 3), st.integers(0, 2)), max_size=12))
@settings(max_examples=150, deadline=None)
def test_a_group_of_swaps_is_each_swap_in_turn(
        tmp_path_factory: pytest.TempPathFactory,
        ops: list[tuple[str, int, int, int, int, int]]) -> None:
    """The group commit decides a group's compare-and-swaps against rows read once: each
    gets the answer, and the state ends as, the swaps done one by one in order would give
    (a model of ``UPDATE ... WHERE size = ? AND root = ? AND vkeys = ?``)."""
    state = WitnessState(tmp_path_factory.mktemp("cas") / "w.db")
    keys = [f"key{i}" for i in range(2)]
    model: dict[str, tuple[str, int, bytes, bytes | None]] = {}
    for origin in ("a.example/log", "b.example/log"):
        state.add_log(origin, [keys[0]])
        model[origin] = (keys[0], 0, EMPTY_ROOT, None)
    group, expected = [], []
    for origin, old_size, old_root, old_key, size, r in ops:
        old = LogState(origin, (keys[old_key],), old_size,
                       EMPTY_ROOT if old_root == 0 else bytes([old_root]) * 32, None)
        new_root, note_ = bytes([r]) * 32, b"note %d" % len(group)
        group.append((old, size, new_root, note_))
        vkeys, now_size, now_root, _ = model[origin]
        ok = (old.size <= size and (now_size, now_root, vkeys)
              == (old.size, old.root, "\n".join(old.vkeys)))
        if ok:
            model[origin] = (vkeys, size, new_root, note_)
        expected.append(ok)
    assert state.compare_and_swap_many(group) == expected
    for origin, (_, size, r, note_) in model.items():
        got = state.get(origin)
        assert got is not None and (got.size, got.root, got.note) == (size, r, note_)


def _fresh_log_key() -> str:
    return generate_key(ORIGIN)[0]


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_requests_only_move_forward(tmp_path: Path, workers: int) -> None:
    """50 clients at once, each with a checkpoint of its own size, retrying as a log does:
    the witness's size, watched throughout, never decreases and ends at the largest; with
    ``workers = 2`` two processes answer them, sharing the state."""
    config = _witness_dir(tmp_path, size=0, workers=workers)
    state = WitnessState(tmp_path / "w1.db")
    rng = random.Random(7)
    sizes = [rng.randint(1, len(ALL)) for _ in range(49)] + [len(ALL)]
    seen: list[int] = []
    done = threading.Event()
    spec = WitnessSpec("witness.example/w1", "", parse_any_verifier(W_VKEY))
    outcomes: list[str] = []

    with witness_server(config, log=tmp_path / "log") as url:
        spec = WitnessSpec(spec.name, url, spec.verifier)

        def watch() -> None:
            while not done.is_set():
                s = state.get(ORIGIN)
                seen.append(s.size if s else -1)

        def client(n: int) -> None:
            known = 0
            for _ in range(20):
                try:
                    cosign_with(spec, note(n), n, lambda old, n=n: proof(old, n), known)
                    outcomes.append("cosigned")
                    return
                except VerificationError as e:
                    if "beyond this log's" in str(e):
                        outcomes.append("witness ahead")  # correct: never roll back
                        return
                    s = state.get(ORIGIN)
                    known = s.size if s else 0
            outcomes.append("gave up")

        watcher = threading.Thread(target=watch)
        watcher.start()
        threads = [threading.Thread(target=client, args=(n,)) for n in sizes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        watcher.join()
        assert requests.get(url + "/", timeout=10).status_code == 200  # still serving
    final = state.get(ORIGIN)
    assert final is not None and (final.size, final.root) == (len(ALL), root(len(ALL)))
    assert seen == sorted(seen)  # never backwards
    assert "gave up" not in outcomes and outcomes.count("cosigned") >= 1
    assert len(outcomes) == 50
    started = re.findall(r"Started server process \[(\d+)\]", (tmp_path / "log").read_text())
    assert len(set(started)) == workers, started

