"""A log monitor: follow a log, re-verify every entry, report watched keys and digests.

A run starts from the last checkpoint it verified (its state folder), proves the new checkpoint
consistent with it from the log's tiles, reads every new entry bundle (authenticated against the
new tree), re-verifies each entry's signature, and emits one event per entry that mentions a
watched key fingerprint or digest. The state only moves forward once every event of the range
was handed out, so a killed monitor repeats events rather than missing them (at-least-once).

Everything the log can do wrong that a monitor can see is a ``misbehaviour`` event (exit 5) with
a ``kind`` and evidence files a third party can check with the log's key alone:

- ``fork``: a checkpoint not consistent with the trusted one (same size, or larger);
- ``rollback``: a smaller checkpoint that is not a prefix of the trusted tree;
- ``bad-tile``: a hash tile that does not authenticate against the signed root;
- ``bad-bundle``: an entry bundle whose entry does not hash to the tree's leaf;
- ``malformed-entry`` / ``bad-entry``: a committed entry that does not parse, or whose
  signature does not verify (evidence: a proof bundle, ``tlog verify --bundle`` accepts it).

An entry of a type this installation does not know is an ``unverified`` event (exit 4): it is
neither passed as verified nor called misbehaviour.

The state also keeps the partial entry bundle at the right edge of the last verified tree: the
next run asks only for the bytes after it (a range read of the grown bundle; entry bundles only
ever grow at the end), so a monitor polling every minute reads each entry about once rather than
the whole partial bundle again each time. What the kept bytes and the new ones make together is
authenticated like any bundle; if it does not check, the whole bundle is read and checked before
anything is called misbehaviour. The partial hash tiles of that edge are kept the same way, and
a tile read as the kept hashes and the ones after them is authenticated against the new root
like any tile (the kept ones are first checked against the trusted root, with no request, so a
state file gone bad costs whole reads, never a false alarm; a tile that does not authenticate so
is read whole to tell a fork from a bad tile). What a partial tile or bundle
serves before the kept bytes is not read again; a bundle or tile that filled is read whole,
once: the permanent object is what stays, and it is checked.

A server that answers as no honest server does (an object over its size limit, too slow, or
redirected to another origin) stops the run with that error (exit 3), the state unchanged: it is
not a misbehaviour event, which claims what a third party can check with the log's key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlog.bundle import ProofBundle, format_bundle
from tlog.checkpoint import Checkpoint, parse_checkpoint
from tlog.client import fetch_checkpoint
from tlog.errors import (
    ConfigError,
    HostileResponseError,
    MalformedError,
    NotFoundError,
    TlogError,
    VerificationError,
)
from tlog.merkle import (
    check_consistency,
    leaf_hash,
    prove_consistency,
    prove_inclusion,
    subtree_nodes,
)
from tlog.note import new_verifier, open_note
from tlog.storage.files import write_atomic
from tlog.tiles import ENTRIES, Tile, TileHashReader, decode_entry_bundle

__all__ = ["EXIT_EVENTS", "EXIT_MISBEHAVIOUR", "EXIT_NOTHING", "Monitor", "MonitorResult"]

EXIT_NOTHING = 0
EXIT_EVENTS = 4
EXIT_MISBEHAVIOUR = 5
_MAX_BUNDLE = 256 * (2 + 0xFFFF)  # bytes of an entry bundle at most (uint16-length entries)
_GROUP = 32  # entry bundles fetched, authenticated and re-verified together (8,192 entries)
_AHEAD = 16_384  # entries fetched ahead of the report, whether to re-verify or not
_CHUNK = 512  # entries per re-verification task on the pool

Emit = Callable[[dict[str, Any]], None]


@dataclass
class MonitorResult:
    """What one monitoring pass saw."""

    old_size: int
    new_size: int
    entries_checked: int = 0
    # of which the signature covers the whole artifact (OpenPGP, signify, …): checked to be
    # the logged key's, not re-verified (that needs the artifact, which the log never holds)
    signatures_not_rechecked: int = 0
    # not counted in entries_checked: of a type this installation cannot re-verify (reported
    # as ``unverified``), or whose plugin has no ``verify_entry`` (only their encoding checked)
    entries_not_reverified: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    misbehaviour: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.misbehaviour:
            return EXIT_MISBEHAVIOUR
        return EXIT_EVENTS if self.events else EXIT_NOTHING


@dataclass
class _Pass:
    """One pass's served checkpoint (note and parsed), its result and where events go."""

    note: bytes
    checkpoint: Checkpoint
    result: MonitorResult
    emit: Emit
    edge: tuple[int, int, bytes] | None = None  # the right edge's partial bundle (n, width, bytes)


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
        watch_identities: Iterable[str] = (),
        watch_issuers: Iterable[str] = (),
        origin: str | None = None,
    ) -> None:
        self.store = store
        self.verifier = new_verifier(vkey)
        self.origin = origin or self.verifier.name  # the log's, as a verifier expects it
        self.state = Path(state_dir)
        self.watch = {k.lower() for k in watch_keys} | {d.lower() for d in watch_digests}
        try:
            self.identities = [re.compile(p, re.IGNORECASE) for p in watch_identities]
        except re.error as e:
            raise ConfigError(f"--watch-identity: not a regular expression: {e}") from e
        self.issuers = {f"issuer:{u.lower()}" for u in watch_issuers}
        self._edge: tuple[int, int, bytes] | None = None  # the last tree's partial bundle
        self._last_tiles: dict[str, bytes] = {}  # the tiles of the last read (evidence)
        self._tiles: dict[tuple[int, int], bytes] = {}  # its partial hash tiles, by (level, n)

    # ----- state ---------------------------------------------------------------------------

    def _state_file(self, by_key: bool = False) -> Path:
        """One state per log: its key and its origin (two logs may share a key; the origin
        is left out where it is the key's name, as in the state files of earlier versions,
        which kept one per key: ``by_key``)."""
        name = f"{self.verifier.name}+{self.verifier.key_id.hex()}"
        if self.origin != self.verifier.name and not by_key:
            name += f"\n{self.origin}"
        tag = hashlib.sha256(name.encode())
        return self.state / f"monitor-{tag.hexdigest()[:16]}.json"

    def _checkpoint(self, note: bytes) -> Checkpoint:
        """A note opened with the log's key, as a checkpoint of the log's origin."""
        cp = parse_checkpoint(open_note(note, [self.verifier]).text)
        if cp.origin != self.origin:
            raise VerificationError(
                f"checkpoint: origin is {cp.origin!r}, expected {self.origin!r} (the key's "
                "name unless --origin says otherwise): another log, signed by the same key")
        return cp

    def _load(self) -> tuple[Checkpoint | None, bytes | None]:
        path = self._state_file()
        if not path.exists() and self._state_file(by_key=True).exists():
            path = self._state_file(by_key=True)  # an earlier version's, for every log of the
            # key: this log's state if its checkpoint is of this origin (else another's)
        try:
            data = json.loads(path.read_text())
            note = data["checkpoint"].encode()
        except FileNotFoundError:
            self._edge, self._tiles = None, {}
            return None, None
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
            raise ConfigError(
                f"{path}: corrupt monitor state ({type(e).__name__}: "
                f"{str(e)[:80]}): restore it from a copy, or delete it to start over (the next "
                "run then trusts the log's checkpoint as first seen, checks every entry again "
                "and reports past matches again)") from e
        cp = parse_checkpoint(open_note(note, [self.verifier]).text)
        if cp.origin != self.origin:
            if path != self._state_file():  # another log's, by an earlier version: not ours
                self._edge, self._tiles = None, {}
                return None, None
            raise ConfigError(f"{path}: the monitor state holds a checkpoint of "
                              f"{cp.origin!r}, not of {self.origin!r} (an earlier version kept "
                              "one state for every log of a key): move it aside, or give "
                              "another --state")
        self._edge = _edge_of(data.get("edge"), cp.size)
        self._tiles = _tiles_of(data.get("tiles"), cp.size)
        return cp, note

    def _save(self, note: bytes, edge: tuple[int, int, bytes] | None = None,
              tiles: dict[Tile, bytes] | None = None) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        doc: dict[str, Any] = {"checkpoint": note.decode()}
        if edge is not None:
            doc["edge"] = {"n": edge[0], "width": edge[1],
                           "bundle": base64.b64encode(edge[2]).decode()}
        if tiles:
            doc["tiles"] = [{"level": t.level, "n": t.n, "width": t.width,
                             "hashes": base64.b64encode(data).decode()}
                            for t, data in sorted(tiles.items()) if not t.is_full]
        write_atomic(self._state_file(), json.dumps(doc).encode())

    def _misbehaved(self, p: _Pass, kind: str, reason: str, evidence: dict[str, bytes],
                    index: int | None = None) -> None:
        """Record one misbehaviour: the evidence files (named after what they hold), then the
        event that names them."""
        self.state.mkdir(parents=True, exist_ok=True)
        tag = hashlib.sha256(p.note + kind.encode() + str(index).encode()).hexdigest()[:12]
        paths = []
        for name, data in evidence.items():
            path = self.state / f"evidence-{tag}-{name}"
            write_atomic(path, data)
            paths.append(str(path))
        event: dict[str, Any] = {"event": "misbehaviour", "kind": kind, "reason": reason,
                                 "checkpoint_size": p.checkpoint.size, "evidence": paths}
        if index is not None:
            event["index"] = index
        p.result.misbehaviour.append(event)
        p.emit(event)

    # ----- one pass ------------------------------------------------------------------------

    def run_once(self, emit: Emit) -> MonitorResult:
        """Check the latest checkpoint against the state, scan new entries, advance the state."""
        self._last_tiles = {}
        note = fetch_checkpoint(self.store)
        cp = self._checkpoint(note)
        old, old_note = self._load()
        start = old.size if old else 0
        p = _Pass(note, cp, MonitorResult(start, cp.size), emit)
        reader = TileHashReader(cp.size, cp.root_hash, self._fetch)
        if old is not None and old_note is not None:
            if self._tiles and not self._kept_authentic(old):
                self._tiles = {}  # a kept copy gone bad: the tiles are read whole
            problem = self._check_growth(old, cp, reader)
            if problem and problem[0] == "bad-tile" and self._tiles and cp.size > old.size:
                # Read as the kept hashes and what follows, a tile of a fork does not
                # authenticate either: whole tiles tell which it is. Should they not come,
                # the first answer stands (the kept hashes are the trusted tree's own).
                self._tiles = {}
                whole = TileHashReader(cp.size, cp.root_hash, self._fetch)
                with contextlib.suppress(NotFoundError, HostileResponseError):
                    problem, reader = self._check_growth(old, cp, whole), whole
            if problem:
                kind, reason = problem
                self._misbehaved(p, kind, reason, {"trusted.checkpoint": old_note,
                                                   "served.checkpoint": note,
                                                   **self._served_tiles()})
                return p.result
        if cp.size <= start:
            p.result.new_size = start
            return p.result
        try:
            self._scan(start, reader, p)
        except HostileResponseError:
            if not p.result.misbehaviour:  # nothing was checked that a third party could
                raise  # check; what was (a group before) is reported, exit 5, state kept
        except VerificationError as e:  # a tile the signed root does not vouch for
            self._misbehaved(
                p, "bad-tile",
                f"the log serves tiles that do not authenticate against its signed checkpoint "
                f"{cp.size}: {e}",
                {"served.checkpoint": note,
                 **({"trusted.checkpoint": old_note} if old_note else {}),
                 **self._served_tiles()})
        if not p.result.misbehaviour:
            self._save(note, p.edge, dict(reader.verified))
        return p.result

    def _check_growth(self, old: Checkpoint, new: Checkpoint,
                      reader: TileHashReader) -> tuple[str, str] | None:
        """(kind, reason) if ``new`` cannot follow the trusted ``old``, else None. Tiles that
        do not authenticate are a ``bad-tile``; a fork or a rollback is a proof from tiles
        that do."""
        if new.size < old.size:
            # A stale copy (a CDN) is a prefix of the trusted tree: proven from the trusted
            # tree's tiles, which the log still serves; anything else is a rollback.
            older = TileHashReader(old.size, old.root_hash, self._fetch)
            try:
                proof = prove_consistency(new.size, old.size, older) if new.size else []
            except HostileResponseError:
                raise
            except VerificationError as e:
                return "bad-tile", (f"the log serves tiles that do not authenticate against the "
                                    f"trusted checkpoint {old.size}: {e}")
            except NotFoundError as e:  # no proof either way: not misbehaviour, not success
                raise VerificationError(
                    f"the log served checkpoint size {new.size}, older than the trusted size "
                    f"{old.size}, and does not serve the tiles to show it is a stale copy: {e}"
                    "; the trusted state is kept") from e
            try:
                check_consistency(proof, new.size, old.size, new.root_hash, old.root_hash)
            except VerificationError as e:
                return "rollback", (f"rollback: checkpoint {new.size} is not a prefix of the "
                                    f"trusted checkpoint {old.size}: {e}")
            return None
        if new.size == old.size:
            return None if new.root_hash == old.root_hash else (
                "fork", f"fork: two different trees of size {new.size}")
        if not old.size:
            return None
        try:
            proof = prove_consistency(old.size, new.size, reader)
        except HostileResponseError:
            raise  # a tile too large, too slow or redirected: no proof either way
        except VerificationError as e:
            return "bad-tile", (f"the log serves tiles that do not authenticate against its "
                                f"signed checkpoint {new.size}: {e}")
        try:
            check_consistency(proof, old.size, new.size, old.root_hash, new.root_hash)
        except VerificationError as e:
            return "fork", (f"fork: checkpoint {new.size} is not consistent with trusted "
                            f"{old.size}: {e}")
        return None

    def _served_tiles(self) -> dict[str, bytes]:
        """The tiles of the last read, as evidence files (``tile-0-000.p-5``…)."""
        return {"tile-" + path.removeprefix("tile/").replace("/", "-"): data
                for path, data in self._last_tiles.items()}

    def _kept_authentic(self, old: Checkpoint) -> bool:
        """Whether the kept tiles are the trusted tree's right edge: they hash to its root
        (they hold all of its root's subtrees). Checked with no request, so that a failure
        met with them is the log's, never a state file gone bad."""
        kept = self._tiles

        def only_kept(tiles: list[Tile]) -> list[bytes]:
            out = [kept.get((t.level, t.n)) for t in tiles]
            if any(d is None or len(d) != 32 * t.width for d, t in zip(out, tiles, strict=True)):
                raise NotFoundError("not kept")
            return out  # type: ignore[return-value]

        try:
            TileHashReader(old.size, old.root_hash, only_kept).read_hashes(
                subtree_nodes(0, old.size))
        except (VerificationError, NotFoundError):
            return False
        return True

    def _fetch(self, tiles: list[Tile]) -> list[bytes]:
        """Hash tiles, for a ``TileHashReader`` to authenticate: a partial tile of the last
        tree's right edge that the state kept is that copy and, by one range read, the hashes
        after it (tiles only grow at the end); any other, a tile that filled since (the
        permanent one is checked whole), or if that read fails, read whole."""
        out: list[bytes | None] = [None] * len(tiles)
        for i, t in enumerate(tiles):
            kept = self._tiles.get((t.level, t.n))
            if kept is None or len(kept) > 32 * t.width or t.is_full:
                continue  # a tile that filled is read whole, once: the one that stays
            try:
                more = (self.store.get_range(t.path, len(kept), 32 * t.width)
                        if len(kept) < 32 * t.width else b"")
            except HostileResponseError:
                raise
            except TlogError:
                continue
            out[i] = kept + more
        rest = [i for i, d in enumerate(out) if d is None]
        for i, d in zip(rest, self.store.get_many([tiles[i].path for i in rest]), strict=True):
            if d is None:
                raise NotFoundError("tile missing from the log", key=tiles[i].path)
            out[i] = d
        # What this read was served: the evidence, should these tiles prove a fork or not
        # authenticate (a third party checks them against the signed checkpoints).
        self._last_tiles = {t.path: d for t, d in zip(tiles, out, strict=True)
                            if d is not None}
        return out  # type: ignore[return-value]  # every slot is filled above

    def _bundle(self, n: int, width: int) -> tuple[str, bytes, int]:
        """Entry bundle ``n`` of a tree (path, bytes, width read): the partial one, or the full
        one once the log deleted the partial."""
        tile = Tile(ENTRIES, n, width)
        try:
            return tile.path, self.store.get(tile.path), width
        except NotFoundError:
            if width == 256:
                raise
            full = Tile(ENTRIES, n, 256)
            return full.path, self.store.get(full.path), 256

    def _scan(self, start: int, reader: TileHashReader, p: _Pass) -> None:
        """Every new entry, ``_GROUP`` bundles at a time: a group's bundles fetched together
        and its entries authenticated against the signed tree here, while the pool re-verifies
        the group before (``check_stream`` pulls the next group's chunks as it frees up);
        reported in index order."""
        from tlog.client.admission import check_stream

        end = p.checkpoint.size
        bundles = range(start // 256, (end + 255) // 256)
        groups = [list(bundles[g : g + _GROUP]) for g in range(0, len(bundles), _GROUP)]
        todos: dict[int, list[tuple[int, bytes | None, Any]]] = {}
        held: dict[int, tuple[int, int]] = {}  # what a group holds besides entries to check
        failed: list[TlogError] = []

        def chunks() -> Iterator[tuple[int, list[bytes]]]:
            for g, ns in enumerate(groups):
                try:
                    todos[g] = todo = self._prepare(ns, start, reader, p)
                except TlogError as e:  # reported once the groups before it are
                    failed.append(e)
                    return
                entries = [e for _, e, _ in todo if e is not None]
                # Entries that failed authentication go to no worker but count in the window
                # (their tiles and bundles are held until reported): a log whose bundles all
                # fail was otherwise fetched whole before the first report.
                covered = min(end, ns[-1] * 256 + 256) - max(start, ns[0] * 256)
                bad = {id(x[2][2]): len(x[2][2]) for x in todo if x[1] is None}
                held[g] = (covered - len(entries), sum(bad.values()))
                for k in range(0, max(len(entries), 1), _CHUNK):
                    yield g, entries[k : k + _CHUNK]

        def report(g: int, verdicts: list[Any]) -> None:
            self._report(todos.pop(g), iter(verdicts), reader, p)
            for n in groups[g]:  # reported (a bad entry's proof reads its tile): a first pass
                reader.verified.pop(Tile(0, n, 256), None)  # over 10^8 entries held 3 GB

        current, verdicts = None, []
        for g, part in check_stream(chunks(), window=_AHEAD,
                                    held=lambda g: held.pop(g, (0, 0))):
            if current is not None and g != current:
                report(current, verdicts)
                verdicts = []
            current = g
            verdicts += part
        if current is not None:
            report(current, verdicts)
        if failed:
            raise failed[0]

    def _prepare(self, ns: list[int], start: int, reader: TileHashReader,
                 p: _Pass) -> list[tuple[int, bytes | None, Any]]:
        """A group of bundles fetched and authenticated: (index, entry, leaf hash) to
        re-verify, or (index, None, (kind, reason, bundle)) to report as it is."""
        end = p.checkpoint.size
        spans = [(n, max(start, n * 256), min(end, n * 256 + 256)) for n in ns]
        fetched = self._bundles([(n, min(256, end - n * 256)) for n in ns])
        hashes = iter(reader.read_leaves(spans[0][1], spans[-1][2]))
        todo: list[tuple[int, bytes | None, Any]] = []
        for (n, lo, hi), (path, raw, width, grown) in zip(spans, fetched, strict=True):
            want = [next(hashes) for _ in range(lo, hi)]
            checked = None
            if grown:
                checked = _authenticate(n, lo, hi, path, raw, width, want)
                if any(entry is None for _, entry, _ in checked):
                    # The kept edge and the new bytes do not make the bundle the tree holds:
                    # the whole bundle decides (the kept copy may be what went wrong).
                    path, raw, width = self._bundle(n, width)
                    checked = None
            if width == 256 and lo > n * 256:
                # A bundle that filled since the last pass, read whole: its earlier entries,
                # checked before from the partial bundle's bytes, are checked in the bundle
                # that stays (only a failure is kept: their signatures need no second check).
                older = reader.read_leaves(n * 256, lo)
                checked = [t for t in _authenticate(n, n * 256, hi, path, raw, width,
                                                    older + want) if t[0] >= lo or t[1] is None]
            elif checked is None:
                checked = _authenticate(n, lo, hi, path, raw, width, want)
            todo += checked
            if width < 256 and hi == end and all(e is not None for _, e, _ in checked):
                p.edge = (n, width, raw)
        return todo

    def _report(self, todo: list[tuple[int, bytes | None, Any]], verdicts: Iterator[Any],
                reader: TileHashReader, p: _Pass) -> None:
        for i, entry, extra in todo:
            if entry is None:
                kind, reason, raw = extra
                # The tree's own leaf at i, proven against the signed root: what the bundle's
                # entry should hash to, for anyone to compare.
                leaf = reader.read_leaves(i, i + 1)[0]
                proof = {"index": i, "tree_size": p.checkpoint.size, "leaf_hash": leaf.hex(),
                         "inclusion_proof": [h.hex() for h in prove_inclusion(
                             i, p.checkpoint.size, reader)]}
                self._misbehaved(p, kind, reason, {
                    "served.checkpoint": p.note, "bundle": raw,
                    f"leaf-{i}.proof.json": json.dumps(proof, indent=2).encode()}, i)
                continue
            self._report_entry(p, i, entry, extra, next(verdicts), reader)

    def _bundles(self, wanted: list[tuple[int, int]]) -> list[tuple[str, bytes, int, bool]]:
        """Entry bundles (n, width) fetched together: (path, bytes, width read, whether they
        are the kept edge with the bytes after it); a partial bundle the log deleted is read
        as the full one."""
        edge = self._edge
        # A bundle that is now full is read whole, once: a monitor so still sees that the
        # permanent bundle decodes, which the bytes kept of it do not tell.
        grown = [(i, n, w) for i, (n, w) in enumerate(wanted)
                 if edge is not None and n == edge[0] and edge[1] < w < 256]
        tiles = [Tile(ENTRIES, n, w) for n, w in wanted]
        skip = {i for i, _, _ in grown}
        got = self.store.get_many([t.path for i, t in enumerate(tiles) if i not in skip])
        out: list[tuple[str, bytes, int, bool] | None] = [None] * len(wanted)
        rest = iter(got)
        for i, t in enumerate(tiles):
            if i in skip:
                continue
            data = next(rest)
            out[i] = ((t.path, data, t.width, False) if data is not None
                      else (*self._bundle(t.n, t.width), False))
        for i, n, w in grown:
            out[i] = self._grown(n, w, edge[2])  # type: ignore[index]
        return out  # type: ignore[return-value]  # every slot is filled above

    def _grown(self, n: int, width: int, kept: bytes) -> tuple[str, bytes, int, bool]:
        """Partial bundle ``n`` at ``width``: the kept bytes of its earlier width and, by one
        range read, what follows them; read whole if that read fails (a 416: a bundle shorter
        than the kept one) or the log deleted the partial one."""
        tile = Tile(ENTRIES, n, width)
        try:
            more = self.store.get_range(tile.path, len(kept), len(kept) + _MAX_BUNDLE)
        except HostileResponseError:
            raise
        except TlogError:
            path, raw, w = self._bundle(n, width)
            return path, raw, w, False
        return tile.path, kept + more, width, True

    def _identity_hits(self, keys: set[str]) -> list[str]:
        """The entry's identities that a --watch-identity pattern matches whole (and, with
        --watch-issuer, only if the entry's issuer is a watched one), and its watched issuers."""
        issuers = sorted(keys & self.issuers)
        if not self.identities:
            return issuers
        if self.issuers and not issuers:
            return []
        names = [k for k in sorted(keys) if k.startswith("identity:")]
        hits = [n for n in names if any(r.fullmatch(n.removeprefix("identity:"))
                                        for r in self.identities)]
        return hits + issuers if hits else []

    def _report_entry(self, p: _Pass, i: int, entry: bytes, leaf: bytes, verdict: Any,
                      reader: TileHashReader) -> None:
        """Act on one authenticated entry's re-verification: misbehaviour, an unverified
        event, or a match on what is watched."""
        from tlog.entries import decode_entry

        status, detail, rechecked = verdict
        if status == "unknown" or rechecked is None:
            p.result.entries_not_reverified += 1
        else:
            p.result.entries_checked += 1
        if status == "unknown":
            event = {"event": "unverified", "index": i, "leaf_hash": leaf.hex(),
                     "reason": f"not re-verified: {detail}; install the log's entry-type plugin"}
            p.result.events.append(event)
            p.emit(event)
            return
        if status in ("malformed", "bad"):
            kind, what = (("malformed-entry", "is malformed") if status == "malformed"
                          else ("bad-entry", "does not verify"))
            proof = prove_inclusion(i, p.checkpoint.size, reader)
            self._misbehaved(p, kind, f"logged entry {what}: {detail}", {
                f"entry-{i}.bundle.json": format_bundle(ProofBundle(i, entry, proof, p.note))}, i)
            return
        if rechecked is False:
            p.result.signatures_not_rechecked += 1
        keys = set(detail)
        hits = sorted(self.watch & keys) + self._identity_hits(keys)
        if hits:
            kind, body = decode_entry(entry)
            digests = sorted(k for k in keys
                             if k.split(":", 1)[0] in ("sha256", "sha384", "sha512", "blake2b512"))
            event = {"event": "match", "index": i, "matched": hits, "type": kind,
                     "digests": digests, "leaf_hash": leaf.hex(), "entry": body}
            p.result.events.append(event)
            p.emit(event)


def _authenticate(n: int, lo: int, hi: int, path: str, raw: bytes, width: int,
                  want: list[bytes]) -> list[tuple[int, bytes | None, Any]]:
    """Entries ``lo``..``hi`` of bundle ``n`` checked against the tree's leaf hashes ``want``:
    (index, entry, leaf hash) for each that is the tree's, and one (first index, None, (kind,
    reason, bundle)) for the bundle if any is not: one event and one copy of the bundle as
    evidence, however many of its entries are wrong."""
    try:
        entries = decode_entry_bundle(raw, width)
    except MalformedError as e:
        return [(lo, None, ("bad-bundle", f"{path} does not decode: {e}", raw))]
    out: list[tuple[int, bytes | None, Any]] = []
    wrong: list[tuple[int, bytes]] = []
    at = 0  # where the bundle's event goes: where it first fails
    for i, leaf in zip(range(lo, hi), want, strict=True):
        entry = entries[i - n * 256]
        if leaf_hash(entry) == leaf:
            out.append((i, entry, leaf))
            continue
        if not wrong:
            at = len(out)
        wrong.append((i, leaf))
    if wrong:
        first, leaf = wrong[0]
        reason = f"{path}: entry {first} does not hash to the tree's leaf {leaf.hex()}"
        if len(wrong) > 1:
            listed = ", ".join(str(i) for i, _ in wrong[:8]) + (", …" if len(wrong) > 8 else "")
            reason += f" ({len(wrong)} of its entries do not: {listed})"
        out.insert(at, (first, None, ("bad-bundle", reason, raw)))
    return out


def _tiles_of(doc: Any, size: int) -> dict[tuple[int, int], bytes]:
    """The kept partial hash tiles from the state file: those that are the right edge of the
    trusted tree of ``size`` entries at their level (a cache: any other is dropped)."""
    out: dict[tuple[int, int], bytes] = {}
    for t in doc if isinstance(doc, list) else []:
        try:
            level, n, width = t["level"], t["n"], t["width"]
            hashes = base64.b64decode(t["hashes"], validate=True)
        except (TypeError, KeyError, ValueError):
            continue
        if not all(type(v) is int for v in (level, n, width)) or not 0 <= level < 8:
            continue
        if (n, width) == divmod(size >> (8 * level), 256) and width and len(hashes) == 32 * width:
            out[level, n] = hashes
    return out


def _edge_of(doc: Any, size: int) -> tuple[int, int, bytes] | None:
    """The kept edge bundle from the state file if it is the partial bundle of the trusted
    tree of ``size`` entries, else None (it is a cache: at worst a bundle is read whole)."""
    try:
        n, width, raw = doc["n"], doc["width"], base64.b64decode(doc["bundle"], validate=True)
    except (TypeError, KeyError, ValueError):
        return None
    if type(n) is not int or type(width) is not int or (n, width) != divmod(size, 256):
        return None
    return (n, width, raw) if width else None
