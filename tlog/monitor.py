"""A log monitor: follow a log, re-verify every entry, report watched keys and digests.

A run starts from the last checkpoint it verified (its state folder), proves the new checkpoint
consistent with it from the log's tiles, reads every new entry bundle (authenticated against the
new tree), re-verifies each entry's signature (an invalid entry in the log is misbehaviour), and
emits one event per entry that mentions a watched key fingerprint or digest. The state only moves
forward once every event of the range was handed out, so a killed monitor repeats events rather
than missing them (at-least-once).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlog.checkpoint import Checkpoint, parse_checkpoint
from tlog.errors import NotFoundError, StoreError, TlogError, VerificationError
from tlog.merkle import check_consistency, leaf_hash, prove_consistency
from tlog.note import new_verifier, open_note
from tlog.tiles import ENTRIES, Tile, TileHashReader, decode_entry_bundle

__all__ = ["EXIT_EVENTS", "EXIT_MISBEHAVIOUR", "EXIT_NOTHING", "Monitor", "MonitorResult"]

EXIT_NOTHING = 0
EXIT_EVENTS = 4
EXIT_MISBEHAVIOUR = 5


@dataclass
class MonitorResult:
    """What one monitoring pass saw."""

    old_size: int
    new_size: int
    entries_checked: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    misbehaviour: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.misbehaviour:
            return EXIT_MISBEHAVIOUR
        return EXIT_EVENTS if self.events else EXIT_NOTHING


class Monitor:
    """Follows one log (a store URL, usually HTTP) from a state folder."""

    def __init__(
        self,
        store: Any,
        vkey: str,
        state_dir: str | os.PathLike[str],
        *,
        watch_keys: Iterable[str] = (),
        watch_digests: Iterable[str] = (),
    ) -> None:
        self.store = store
        self.verifier = new_verifier(vkey)
        self.state = Path(state_dir)
        self.watch = {k.lower() for k in watch_keys} | {d.lower() for d in watch_digests}

    # ----- state ---------------------------------------------------------------------------

    def _state_file(self) -> Path:
        tag = hashlib.sha256(f"{self.verifier.name}+{self.verifier.key_id.hex()}".encode())
        return self.state / f"monitor-{tag.hexdigest()[:16]}.json"

    def _load(self) -> tuple[Checkpoint | None, bytes | None]:
        try:
            data = json.loads(self._state_file().read_text())
        except FileNotFoundError:
            return None, None
        except ValueError as e:
            raise TlogError(f"{self._state_file()}: corrupt monitor state: {e}") from e
        note = data["checkpoint"].encode()
        return parse_checkpoint(open_note(note, [self.verifier]).text), note

    def _save(self, note: bytes) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        path = self._state_file()
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"checkpoint": note.decode()}))
        os.replace(tmp, path)

    def _evidence(self, old: bytes, new: bytes) -> list[str]:
        self.state.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, note in (("trusted", old), ("conflicting", new)):
            p = self.state / f"evidence-{hashlib.sha256(new).hexdigest()[:12]}-{name}.checkpoint"
            p.write_bytes(note)
            paths.append(str(p))
        return paths

    # ----- one pass ------------------------------------------------------------------------

    def run_once(self, emit: Callable[[dict[str, Any]], None]) -> MonitorResult:
        """Check the latest checkpoint against the state, scan new entries, advance the state."""
        note = self.store.get("checkpoint")
        cp = parse_checkpoint(open_note(note, [self.verifier]).text)
        old, old_note = self._load()
        start = old.size if old else 0
        result = MonitorResult(start, cp.size)
        reader = TileHashReader(cp.size, cp.root_hash, self._fetch)
        if old is not None and old_note is not None:
            problem = self._check_growth(old, cp, reader)
            if problem:
                event = {"event": "misbehaviour", "reason": problem,
                         "evidence": self._evidence(old_note, note)}
                result.misbehaviour.append(event)
                emit(event)
                return result
        if cp.size <= start:
            result.new_size = start
            return result
        try:
            self._scan(start, cp.size, reader, result, emit)
        except VerificationError as e:  # a tile the signed root does not vouch for
            event = {"event": "misbehaviour",
                     "reason": f"the log serves tiles that do not authenticate against its "
                               f"signed checkpoint {cp.size}: {e}",
                     "evidence": self._evidence(old_note or note, note)}
            result.misbehaviour.append(event)
            emit(event)
        if not result.misbehaviour:
            self._save(note)
        return result

    def _check_growth(self, old: Checkpoint, new: Checkpoint, reader: TileHashReader) -> str | None:
        if new.size < old.size:
            # A stale copy (a CDN) is a prefix of the trusted tree: proven from the trusted
            # tree's tiles, which the log still serves; anything else is a rollback.
            older = TileHashReader(old.size, old.root_hash, self._fetch)
            try:
                proof = prove_consistency(new.size, old.size, older) if new.size else []
                check_consistency(proof, new.size, old.size, new.root_hash, old.root_hash)
            except VerificationError as e:
                return (f"rollback: checkpoint {new.size} is not a prefix of the trusted "
                        f"checkpoint {old.size}: {e}")
            except NotFoundError:
                return None  # the trusted tree's tiles are not served here: cannot tell yet
            return None
        if new.size == old.size:
            return None if new.root_hash == old.root_hash else (
                f"fork: two different trees of size {new.size}")
        try:
            proof = prove_consistency(old.size, new.size, reader) if old.size else []
            if old.size:
                check_consistency(proof, old.size, new.size, old.root_hash, new.root_hash)
        except VerificationError as e:
            return f"fork: checkpoint {new.size} is not consistent with trusted {old.size}: {e}"
        return None

    def _fetch(self, tiles: list[Tile]) -> list[bytes]:
        data = self.store.get_many([t.path for t in tiles])
        for t, d in zip(tiles, data, strict=True):
            if d is None:
                raise NotFoundError("tile missing from the log", key=t.path)
        return data

    def _scan(
        self,
        start: int,
        end: int,
        reader: TileHashReader,
        result: MonitorResult,
        emit: Callable[[dict[str, Any]], None],
    ) -> None:
        from tlog.entries import decode_entry, entry_search_keys, verify_entry

        for n in range(start // 256, (end + 255) // 256):
            width = min(256, end - n * 256)
            tile = Tile(ENTRIES, n, width)
            try:
                raw = self.store.get(tile.path)
            except NotFoundError:
                if width == 256:
                    raise
                raw = self.store.get(Tile(ENTRIES, n, 256).path)
                width = 256
            entries = decode_entry_bundle(raw, width)[: min(256, end - n * 256)]
            first = n * 256
            lo = max(start, first)
            hashes = reader.read_hashes([(0, i) for i in range(lo, first + len(entries))])
            for i, want in zip(range(lo, first + len(entries)), hashes, strict=True):
                entry = entries[i - first]
                if leaf_hash(entry) != want:
                    event = {"event": "misbehaviour", "index": i,
                             "reason": "entry bundle does not match the tree's leaf hash"}
                    result.misbehaviour.append(event)
                    emit(event)
                    continue
                result.entries_checked += 1
                try:
                    verify_entry(entry)
                except TlogError as e:
                    event = {"event": "misbehaviour", "index": i,
                             "reason": f"logged entry does not verify: {e}"}
                    result.misbehaviour.append(event)
                    emit(event)
                    continue
                keys = {k.lower() for k in entry_search_keys(entry)}
                hits = sorted(self.watch & keys)
                if hits:
                    kind, body = decode_entry(entry)
                    event = {"event": "match", "index": i, "matched": hits, "type": kind,
                             "leaf_hash": want.hex(), "entry": body}
                    result.events.append(event)
                    emit(event)


def key_fingerprint_of(pem_or_der: bytes) -> str:
    """The search key (``key:<hex>``) of a public key file, as entries record it."""
    from tlog.entries import key_search_key

    try:
        return key_search_key(pem_or_der)
    except (ValueError, TlogError) as e:
        raise StoreError(f"not a public key: {e}") from e
