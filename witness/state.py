"""The witness's state in SQLite: the logs it follows and, per log, the latest note it cosigned.

The whole signed note is kept (not only size and root), so that if the log later shows another
tree of the same size, both signed notes can be handed to others as proof of the fork. Updates
are compare-and-swap (``UPDATE … WHERE size = ? AND root = ? AND keyset(vkeys) = ?`` in one
transaction), so two concurrent requests can never move a log's state backwards, nor store a
cosignature checked against keys the log no longer has. ``KnownStates`` keeps a process's last
known state of each log, which that swap makes safe to answer from.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tlog.errors import ConfigError, StoreError
from tlog.merkle import EMPTY_ROOT

__all__ = ["Fork", "KnownStates", "LogState", "WitnessState", "state_exists"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    vkeys TEXT NOT NULL,          -- the log's verifier keys, one per line
    size INTEGER NOT NULL,        -- size of the latest cosigned checkpoint (0: none yet)
    root BLOB NOT NULL,           -- its root hash
    note BLOB,                    -- the log-signed note, as submitted and verified
    frozen INTEGER NOT NULL DEFAULT 0  -- 1: nothing beyond this size is cosigned (freeze-log)
);
CREATE TABLE IF NOT EXISTS signers (
    vkey TEXT PRIMARY KEY,        -- a witness key that has served from this state
    since INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS forks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    cosigned_note BLOB NOT NULL,  -- what this witness cosigned at that size
    offered_note BLOB NOT NULL,   -- the validly signed note with another root
    detected_at INTEGER NOT NULL
);
"""


def state_exists(path: str | Path) -> bool:
    """Whether ``path`` holds a witness state (a ``logs`` table), read without creating it:
    a missing or empty file is a state lost, which ``WitnessState`` would silently start
    afresh."""
    p = Path(path)
    if not p.is_file() or p.stat().st_size == 0:
        return False
    try:
        with closing(sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)) as db:
            return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                              "'logs'").fetchone() is not None
    except sqlite3.Error as e:
        raise ConfigError(f"cannot open witness state {p}: {e}") from e


@dataclass(frozen=True)
class LogState:
    """One followed log: its keys and the latest checkpoint this witness cosigned."""

    origin: str
    vkeys: tuple[str, ...]
    size: int
    root: bytes
    note: bytes | None
    frozen: bool = False  # the operator froze the log at this size


@dataclass(frozen=True)
class Fork:
    """Two validly signed notes of one log with the same size and different roots."""

    origin: str
    size: int
    cosigned_note: bytes
    offered_note: bytes
    detected_at: int


class WitnessState:
    """SQLite-backed state; safe to share between threads (one connection per thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        try:
            with closing(sqlite3.connect(self.path, timeout=30)) as db:
                # Readers never wait for the writer. Where WAL cannot be had (some network
                # file systems), a commit waits for readers: writes keep SQLite's own wait.
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                self._wal = str(mode).lower() == "wal"
                db.executescript(_SCHEMA)
                columns = {r[1] for r in db.execute("PRAGMA table_info(logs)")}
                if "frozen" not in columns:  # a state made before logs could be frozen
                    try:
                        db.execute("ALTER TABLE logs ADD COLUMN frozen INTEGER NOT NULL "
                                   "DEFAULT 0")
                        db.commit()
                    except sqlite3.OperationalError as e:  # another process added it first
                        if "duplicate column" not in str(e):
                            raise
        except sqlite3.Error as e:
            raise ConfigError(f"cannot open witness state {self.path}: {e}") from e

    def _db(self, write: bool = False) -> sqlite3.Connection:
        """This thread's connection for reads, or for writes (a server thread reuses its own
        across requests). Writes wait for another process's write in short steps of their
        own (``_begin_write``), not SQLite's."""
        name = "write" if write else "read"
        db = getattr(self._local, name, None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=0 if write and self._wal else 30,
                                 isolation_level=None)
            db.execute("PRAGMA synchronous=FULL")  # a cosigned state is on disk before the reply
            db.create_function("keyset", 1, _keyset, deterministic=True)
            setattr(self._local, name, db)
        return db

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        try:
            db = self._db(write)
            if write:
                _begin_write(db)
            else:
                db.execute("BEGIN")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                # Whatever failed, the COMMIT included (a full disk), the connection leaves
                # the transaction: else it holds the write lock and refuses every later BEGIN.
                if db.in_transaction:
                    with suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise StoreError(f"witness state: {e}", key=self.path) from e

    def bind(self, vkey: str) -> list[str]:
        """Record that the witness key ``vkey`` serves from this state; the other keys that
        did before it (a rotated key), oldest first."""
        with self._tx() as db:
            others = [r[0] for r in db.execute(
                "SELECT vkey FROM signers WHERE vkey != ? ORDER BY since, vkey", (vkey,))]
            db.execute("INSERT OR IGNORE INTO signers (vkey, since) VALUES (?, ?)",
                       (vkey, int(time.time())))
        return others

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file, so that the file alone holds the
        whole state once the witness has stopped (a copy of it is not silently an older
        state). Best effort: another process may still be reading."""
        if not self._wal:
            return
        with suppress(sqlite3.Error), closing(sqlite3.connect(self.path, timeout=5)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def add_log(self, origin: str, vkeys: list[str]) -> bool:
        """Follow a log (or replace its keys); True if it was new. Its state is kept."""
        with self._tx() as db:
            cur = db.execute("UPDATE logs SET vkeys = ? WHERE origin = ?",
                             ("\n".join(vkeys), origin))
            if cur.rowcount:
                return False
            db.execute("INSERT INTO logs (origin, vkeys, size, root, note) VALUES (?, ?, 0, ?, "
                       "NULL)", (origin, "\n".join(vkeys), EMPTY_ROOT))
            return True

    def get(self, origin: str) -> LogState | None:
        # One statement is its own transaction: no BEGIN and COMMIT around it (a third of
        # the cost, on every add-checkpoint).
        try:
            row = self._db().execute("SELECT origin, vkeys, size, root, note, frozen FROM logs "
                                     "WHERE origin = ?", (origin,)).fetchone()
        except sqlite3.Error as e:
            raise StoreError(f"witness state: {e}", key=self.path) from e
        return None if row is None else _state(row)

    def logs(self) -> list[LogState]:
        with self._tx(write=False) as db:
            rows = db.execute("SELECT origin, vkeys, size, root, note, frozen FROM logs ORDER BY "
                              "origin")
            return [_state(r) for r in rows.fetchall()]

    def compare_and_swap(self, old: LogState, size: int, root: bytes, note: bytes) -> bool:
        """Store (size, root, note) for ``old.origin`` if its size, root and keys are still
        ``old``'s. Never moves backwards, whatever the caller passes. The note is not compared:
        another request may have replaced it by another cosignature of the same tree, which
        is as good."""
        return self.compare_and_swap_many([(old, size, root, note)])[0]

    def compare_and_swap_many(
            self, ops: list[tuple[LogState, int, bytes, bytes]]) -> list[bool]:
        """``compare_and_swap`` of each (old, size, root, note) in order, in one transaction:
        one commit (one fsync) for many requests, each with the answer it would have had
        alone (group commit)."""
        with self._tx() as db:
            out = []
            for old, size, root, note in ops:
                if size < old.size:
                    out.append(False)
                    continue
                cur = db.execute(  # a frozen log's state never moves, whatever was checked
                    "UPDATE logs SET size = ?, root = ?, note = ? WHERE origin = ? AND size = ? "
                    "AND root = ? AND keyset(vkeys) = ? AND (frozen = 0 OR size = ?)",
                    (size, root, note, old.origin, old.size, old.root, "\n".join(old.vkeys),
                     size),
                )
                out.append(cur.rowcount == 1)
            return out

    def freeze(self, origin: str) -> LogState | None:
        """Cosign nothing of ``origin`` beyond the tree this witness cosigned last (a log
        whose key leaked, or that its operator froze); its state as frozen, or None if the
        log is not followed."""
        with self._tx() as db:
            db.execute("UPDATE logs SET frozen = 1 WHERE origin = ?", (origin,))
            row = db.execute("SELECT origin, vkeys, size, root, note, frozen FROM logs WHERE "
                             "origin = ?", (origin,)).fetchone()
        return None if row is None else _state(row)

    def record_fork(self, origin: str, size: int, cosigned: bytes, offered: bytes) -> None:
        """Keep a fork's two notes, once (a log retries the same note)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO forks (origin, size, cosigned_note, offered_note, detected_at) "
                "SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM forks WHERE origin = ? "
                "AND size = ? AND offered_note = ?)",
                (origin, size, cosigned, offered, int(time.time()), origin, size, offered))

    def forks(self, origin: str | None = None) -> list[Fork]:
        with self._tx(write=False) as db:
            rows = db.execute(
                "SELECT origin, size, cosigned_note, offered_note, detected_at FROM forks "
                "WHERE ? IS NULL OR origin = ? ORDER BY id", (origin, origin)).fetchall()
        return [Fork(r[0], r[1], bytes(r[2]), bytes(r[3]), r[4]) for r in rows]


_BUSY_WAIT = 30.0  # seconds a write waits for another process's write to end
_BUSY_STEP = 0.0002  # seconds between tries


def _begin_write(db: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for another process's write (another worker's group commit)
    by short steps: SQLite's own busy handler sleeps 1, 2, 5, 10 ... ms, longer than the
    other's commit takes, and every request of the group waits with it."""
    deadline = 0.0
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            now = time.monotonic()
            deadline = deadline or now + _BUSY_WAIT
            if now > deadline:
                raise
            time.sleep(_BUSY_STEP)


def _keys(text: str) -> tuple[str, ...]:
    return tuple(v for v in text.split("\n") if v)


def _keyset(text: str) -> str:
    """A log's stored keys as ``LogState.vkeys`` reads them, joined: what the swap compares
    (keys stored with a blank line, by hand or through the API, must still match)."""
    return "\n".join(_keys(text))


def _state(row: tuple) -> LogState:  # type: ignore[type-arg]
    origin, vkeys, size, root, note, frozen = row
    return LogState(origin, _keys(vkeys), size, bytes(root),
                    None if note is None else bytes(note), bool(frozen))


class KnownStates:
    """A process's last known state of each log it has answered for, so that a request costs
    no read of the database (a read is a few system calls for SQLite's locks, a tenth of a
    request's cost). Answering from it is safe because every cosignature is stored by a
    compare-and-swap that fails unless the log's size, root and keys are still the ones it
    was checked against (another worker, or ``tlog witness add-log``, may have moved them):
    the caller then reads afresh (``read(fresh=True)``) and checks again, and does the same
    before refusing a request, so no answer rests on a state that is out of date. Unknown
    logs are not remembered."""

    def __init__(self, state: WitnessState) -> None:
        self.state = state
        self._known: dict[str, LogState] = {}

    def read(self, origin: str, fresh: bool = False) -> LogState | None:
        known = None if fresh else self._known.get(origin)
        if known is None:
            known = self.state.get(origin)
            if known is None:
                self._known.pop(origin, None)
            else:
                self._known[origin] = known
        return known

    def stored(self, new: LogState) -> None:
        """``new`` was just stored by a compare-and-swap (kept unless a fresh read meanwhile
        found the log further on)."""
        now = self._known.get(new.origin)
        if now is None or now.size <= new.size:
            self._known[new.origin] = new
