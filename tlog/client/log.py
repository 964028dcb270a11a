"""A verifying client: trust neither the log operator nor the CDN in front of it.

Every answer is checked against a signed checkpoint: the log's Ed25519 signature, the witness
policy (at least k valid cosignatures from the configured witnesses), and consistency with the
last checkpoint this verifier trusted (``tlog.client.trust``). Proofs are computed from
untrusted tiles and then checked against the signed root (tlog-tiles §9, first method), so a
client fetches only the tiles a proof reads. When a check fails, the same tiles are
authenticated one by one (``TileHashReader``) to say *which* object was wrong, and to tell a
fork (two signed trees that cannot both be honest) from a tampered tile.

Requests for one inclusion proof in a tree of N entries: the checkpoint, one entry bundle, and
the hash tiles the audit path reads: the leaf's tile at each of the ceil(log256 N) levels it
climbs, plus the partial tiles of the right edge that the path does not cross (at most
ceil(log256 N) - 1 more). Full tiles are immutable, so the HTTP store keeps them on disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tlog.bundle import ProofBundle
from tlog.checkpoint import Checkpoint, parse_checkpoint
from tlog.client.tiles import Planner, ProofReader, TileSource, bundle_for
from tlog.client.trust import TrustStore
from tlog.cosignature import parse_any_verifier, witness_policy_check
from tlog.errors import (
    ConfigError,
    ConflictError,
    ForkError,
    MalformedError,
    NotFoundError,
    VerificationError,
)
from tlog.index import lookup, manifest_path, parse_manifest, same_prefix
from tlog.merkle import (
    HASH_SIZE,
    Node,
    check_consistency,
    check_inclusion,
    leaf_hash,
    prove_consistency,
    prove_inclusion,
)
from tlog.note import Verifier, new_verifier, open_note
from tlog.tiles import (
    TileHashReader,
)

__all__ = [
    "LogClient",
    "TileSource",
    "TrustUpdate",
    "VerifiedCheckpoint",
    "VerifiedEntry",
    "WitnessPolicy",
    "fetch_checkpoint",
    "open_log_checkpoint",
    "verify_bundle",
    "witness_policy",
]



# ----- checkpoints and witness policy (pure) -----------------------------------------------


@dataclass(frozen=True)
class WitnessPolicy:
    """Require ``threshold`` valid cosignatures from ``witnesses``."""

    witnesses: tuple[Verifier, ...] = ()
    threshold: int = 0


def witness_policy(vkeys: Sequence[str] = (), threshold: int | None = None,
                   log_vkey: str | None = None) -> WitnessPolicy:
    """A policy from witness verifier keys; the threshold defaults to all of them. A key
    given twice, or the log's own key (``log_vkey``) given as a witness, is an input mistake:
    the note would hold two keys of one name and id, which no check can tell apart."""
    verifiers = tuple(parse_any_verifier(v) for v in vkeys)
    seen: dict[tuple[str, bytes], str] = {}
    if log_vkey:
        log = new_verifier(log_vkey)
        seen[(log.name, bytes(log.key_id))] = "the log's key"
    for v in verifiers:
        ident = (v.name, bytes(v.key_id))
        if ident in seen:
            raise ConfigError(f"--witness {v.name}+{ident[1].hex()}: the same key as "
                              f"{seen[ident]}: give each witness's own key once")
        seen[ident] = "another --witness"
    k = len(verifiers) if threshold is None else threshold
    if not 0 <= k <= len(verifiers):
        raise ConfigError(f"witness threshold {k} needs at least {k} witness keys, "
                          f"got {len(verifiers)}")
    return WitnessPolicy(verifiers, k)


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature (and witness policy) verified; ``note`` as served."""

    checkpoint: Checkpoint
    note: bytes
    cosigners: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root_hash(self) -> bytes:
        return self.checkpoint.root_hash


def open_log_checkpoint(
    note: bytes, log: Verifier, origin: str, policy: WitnessPolicy = WitnessPolicy(),
    *, source: str = "checkpoint",
) -> VerifiedCheckpoint:
    """Verify a signed checkpoint: the log's own signature, the origin, the witness policy.

    Anything wrong, malformed included, is a ``VerificationError`` naming ``source``.
    """
    try:
        opened = open_note(note, [log, *policy.witnesses])
        cp = parse_checkpoint(opened.text)
    except (MalformedError, VerificationError) as e:
        raise VerificationError(f"{source}: {e}") from e
    if cp.origin != origin:
        raise VerificationError(f"{source}: origin is {cp.origin!r}, expected {origin!r}")
    if not any((s.name, s.key_id) == (log.name, bytes(log.key_id)) for s in opened.sigs):
        raise VerificationError(f"{source}: no valid signature by the log key {log.name}")
    try:
        got = witness_policy_check(opened, policy.witnesses, policy.threshold)
    except VerificationError as e:
        raise VerificationError(f"{source}: {e}") from e
    return VerifiedCheckpoint(cp, bytes(note), tuple(s.name for s in got))


# ----- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustUpdate:
    """What reconciling the served checkpoint with the trusted one decided.

    ``status``: ``no-state`` (the client keeps no trusted state), ``first-use`` (nothing
    trusted yet: trust on first use), ``unchanged``,
    ``grown`` (proven consistent, now trusted) or ``stale`` (the log served an older checkpoint
    that is consistent with the trusted one, which stays in use; see ``warning``).
    """

    checkpoint: VerifiedCheckpoint
    served: VerifiedCheckpoint
    status: str
    previous_size: int | None = None
    warning: str | None = None


@dataclass(frozen=True)
class VerifiedEntry:
    """An entry proven to be at ``index`` in the tree of ``checkpoint``."""

    index: int
    entry: bytes
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    checkpoint: VerifiedCheckpoint
    warnings: tuple[str, ...] = field(default=())

    def to_bundle(self) -> ProofBundle:
        return ProofBundle(self.index, self.entry, self.proof, self.checkpoint.note)


# ----- the client ---------------------------------------------------------------------------


def fetch_checkpoint(store: Any) -> bytes:
    """The signed checkpoint a log serves; where there is none, the error names the place
    asked and what to check."""
    try:
        return store.get("checkpoint")
    except NotFoundError as e:
        where = getattr(store, "url", None) or repr(store)
        if str(where).rstrip("/").endswith("/checkpoint"):  # the file, not the log's prefix
            raise NotFoundError(f"no checkpoint at {where}/checkpoint: give the log's URL "
                                "without /checkpoint (the prefix of its files)") from e
        raise NotFoundError(f"no checkpoint at {where}: is that the log's URL or folder, and "
                            "has the log been created (`tlog init`)?") from e



class LogClient:
    """Verifies entries of one log (a store, usually HTTP) against its key and witness policy."""

    def __init__(
        self,
        store: object,
        vkey: str,
        *,
        origin: str | None = None,
        policy: WitnessPolicy = WitnessPolicy(),
        trust: TrustStore | None = None,
    ) -> None:
        self.store = store
        self.vkey = vkey.strip() if isinstance(vkey, str) else vkey
        self.verifier = new_verifier(self.vkey)
        self.origin = origin or self.verifier.name
        self.policy = policy
        self.trust = trust
        self.source = TileSource(store)
        self._update: TrustUpdate | None = None

    # -- checkpoints ------------------------------------------------------------------------

    def latest(self) -> VerifiedCheckpoint:
        """The checkpoint the log serves now, signature and witness policy verified."""
        note = fetch_checkpoint(self.store)
        return open_log_checkpoint(note, self.verifier, self.origin, self.policy)

    def update_trust(self) -> TrustUpdate:
        """Fetch the latest checkpoint and reconcile it with the trusted state (once per client)."""
        if self._update is None:
            self._update = self._reconcile_loop()
        return self._update

    def opened(self, note: bytes) -> VerifiedCheckpoint:
        """A checkpoint note verified with this client's key, origin and policy (the last
        one is kept: a worker process is handed the same note task after task)."""
        kept = getattr(self, "_opened", None)
        if kept is None or kept.note != note:
            kept = self._opened = open_log_checkpoint(note, self.verifier, self.origin,
                                                      self.policy)
        return kept

    def refresh(self) -> None:
        """Forget the checkpoint fetched so far: the next check fetches the latest again."""
        self._update = None

    def checkpoint(self) -> VerifiedCheckpoint:
        """The checkpoint to verify against (see ``update_trust``)."""
        return self.update_trust().checkpoint

    def _reconcile_loop(self) -> TrustUpdate:
        served = self.latest()
        if self.trust is None:
            return TrustUpdate(served, served, "no-state")
        for _ in range(5):
            old = self.trust.load(self.origin, self.vkey)
            update = self._reconcile(old, served)
            keep = update.checkpoint.note
            try:
                if keep != old:
                    self.trust.replace(self.origin, self.vkey, old, keep)
            except ConflictError:
                continue  # another verifier moved the state: check against its choice
            return update
        raise ConflictError("the trusted state keeps changing under this verifier",
                            key=str(self.trust.log_dir(self.origin, self.vkey)))

    def _reconcile(self, old: bytes | None, served: VerifiedCheckpoint) -> TrustUpdate:
        if old is None:
            return TrustUpdate(served, served, "first-use")
        trusted = open_log_checkpoint(old, self.verifier, self.origin,
                                      source="trusted checkpoint")
        t, s = trusted.checkpoint, served.checkpoint
        if s.size == t.size:
            if s.root_hash != t.root_hash:
                self._fork(trusted, served, f"two different roots for tree size {s.size}")
            return TrustUpdate(served, served, "unchanged", t.size)
        if s.size > t.size:
            self._check_consistent(trusted, served, trusted_is_old=True)
            return TrustUpdate(served, served, "grown", t.size)
        try:
            self._check_consistent(served, trusted, trusted_is_old=False)
        except NotFoundError as e:
            raise VerificationError(
                f"the log served checkpoint size {s.size}, older than the trusted size "
                f"{t.size}, and does not serve the tiles to show it is a stale copy: {e}"
            ) from e
        warning = (f"the log served checkpoint size {s.size}, older than the trusted size "
                   f"{t.size}; it is consistent (a stale copy), so the trusted one stays in use")
        return TrustUpdate(trusted, served, "stale", t.size, warning)

    def _check_consistent(
        self, old: VerifiedCheckpoint, new: VerifiedCheckpoint, *, trusted_is_old: bool
    ) -> None:
        """Prove (old) is a prefix of (new) from the tiles of ``new``; ForkError if not."""
        o, n = old.checkpoint, new.checkpoint
        try:
            proof = prove_consistency(o.size, n.size, ProofReader(n.size, self.source))
            check_consistency(proof, o.size, n.size, o.root_hash, n.root_hash)
            return
        except VerificationError as e:
            failure = e
        # Tell a tampered tile from a fork: authenticate every tile against the new root.
        reader = TileHashReader(n.size, n.root_hash, self.source.tiles)
        try:
            proof = prove_consistency(o.size, n.size, reader)
        except VerificationError as e:
            self.source.forget()
            raise VerificationError(f"consistency {o.size} → {n.size}: {e}") from e
        try:
            check_consistency(proof, o.size, n.size, o.root_hash, n.root_hash)
        except VerificationError:
            trusted, served = (old, new) if trusted_is_old else (new, old)
            self._fork(trusted, served, str(failure))
        raise VerificationError(f"consistency {o.size} → {n.size}: {failure}")

    def _fork(self, trusted: VerifiedCheckpoint, served: VerifiedCheckpoint, why: str) -> None:
        if self.trust is None:  # only reached while reconciling with a trust store
            raise VerificationError(why)
        paths = self.trust.write_evidence(self.origin, self.vkey, trusted.note, served.note)
        kind = "rollback to an inconsistent tree" if served.size < trusted.size else "fork"
        raise ForkError(
            f"{kind}: the log signed checkpoint size {served.size}, which is not consistent "
            f"with the trusted checkpoint size {trusted.size} ({why}); evidence: "
            f"{paths[0]} {paths[1]}; trusted state: {self.trust.log_dir(self.origin, self.vkey)}."
            " Keep the evidence and report it to the log's operator and its witnesses; only if "
            f"the operator announced that this log was reset, run `tlog trust forget "
            f"{self.origin}`",
            evidence=(trusted.note, served.note),
        )

    # -- entries ----------------------------------------------------------------------------

    def entry(self, index: int, cp: VerifiedCheckpoint | None = None) -> VerifiedEntry:
        """Entry ``index`` with its inclusion proof, verified against ``cp`` (default: current)."""
        cp = cp or self.checkpoint()
        if not isinstance(index, int) or index < 0:
            raise ConfigError(f"index must be a non-negative integer, got {index!r}")
        if index >= cp.size:
            raise NotFoundError(f"entry {index} is not in the log yet: its tree size is {cp.size}")
        bundle = bundle_for(index, cp.size)
        if not self.source.has(bundle):  # fetch the bundle and the proof's tiles in one go
            planner = Planner(cp.size)
            prove_inclusion(index, cp.size, planner)
            self.source.prefetch([*sorted(planner.tiles), bundle])
        entry = self.source.entry(index, cp.size)
        leaf = leaf_hash(entry)
        proof = prove_inclusion(index, cp.size, ProofReader(cp.size, self.source))
        try:
            check_inclusion(proof, index, cp.size, leaf, cp.root_hash)
        except VerificationError as e:
            try:
                self._explain_inclusion(index, cp, leaf, e)
            finally:
                self.source.forget()
        return VerifiedEntry(index, entry, leaf, tuple(proof), cp, self._warnings())

    def _explain_inclusion(
        self, index: int, cp: VerifiedCheckpoint, leaf: bytes, failure: VerificationError
    ) -> None:
        """Authenticate the tiles to name the culprit: a tile, or the entry bundle."""
        reader = TileHashReader(cp.size, cp.root_hash, self.source.tiles)
        try:
            (want,) = reader.read_hashes([Node(0, index)])
            prove_inclusion(index, cp.size, reader)
        except VerificationError as e:
            raise VerificationError(f"entry {index}: {e}") from failure
        if want != leaf:
            bundle = bundle_for(index, cp.size)
            raise VerificationError(
                f"entry {index}: {bundle.path}: the entry does not match its leaf hash in the "
                f"signed tree (tampered entry bundle)") from failure
        raise VerificationError(f"entry {index}: {failure}") from failure

    def index_candidates(self, key: bytes, cp: VerifiedCheckpoint) -> tuple[list[int], str]:
        """What the log's static index proposes for a 32-byte index key (a leaf hash, or
        ``tlog.index.search_key`` of a digest or key fingerprint), and the manifest read.
        Untrusted, and by key prefix: each candidate is for the caller to prove. The manifest
        of the tree ``cp`` names, or of the latest one when that was deleted
        (``index_keep``)."""
        path, size = manifest_path(cp.size), cp.size
        if not size:  # an empty tree holds nothing to find, and a new log has no index yet
            return [], path
        try:
            try:
                data = self.store.get(path)  # type: ignore[attr-defined]
            except NotFoundError:  # an old tree's manifest is deleted after a while (the
                size = self.latest().size  # sequencer's index_keep): the latest covers it
                if size <= cp.size:  # not a later one (a stale copy): it would not cover it
                    raise
                path = manifest_path(size)
                data = self.store.get(path)  # type: ignore[attr-defined]
            manifest = parse_manifest(data)
            if manifest.size != size:
                raise MalformedError(f"manifest is for size {manifest.size}, not {size}")
            found = lookup(manifest, key, self.store.get_range)  # type: ignore[attr-defined]
        except MalformedError as e:
            raise VerificationError(f"{path}: the log's index is malformed: {e}") from e
        except ConfigError as e:  # a newer index format: this installation is too old
            raise ConfigError(f"{path}: {e}") from e
        return found, path

    def find(self, leaf: bytes, cp: VerifiedCheckpoint | None = None) -> VerifiedEntry:
        """The entry with this leaf hash, located by the log's static index, then proven."""
        from tlog.entries import entry_index_keys

        if len(leaf) != HASH_SIZE:
            raise ConfigError("a leaf hash is 32 bytes (64 hex digits)")
        cp = cp or self.checkpoint()
        candidates, path = self.index_candidates(leaf, cp)
        # A newer manifest (the tree's own was deleted) also names entries beyond this tree:
        # they are not in it, which says nothing about the index; the tree's own must not.
        wrong = [i for i in candidates if i >= cp.size and path == manifest_path(cp.size)]
        candidates = [i for i in candidates if i < cp.size]
        for index in candidates:
            # The index is untrusted: skip a candidate whose entry has another leaf hash.
            entry = self.source.entry(index, cp.size)
            if leaf_hash(entry) == leaf:
                return self.entry(index, cp)
            if not any(same_prefix(leaf, k) for k in entry_index_keys(entry)):
                wrong.append(index)  # not even a collision of the prefix the index keeps
        if wrong:  # it named entries that cannot be this one: the index lies or is broken
            raise VerificationError(
                f"{path}: the log's index names entries {sorted(wrong)[:8]} for leaf hash "
                f"{leaf.hex()}, and none of them has it: the index is broken")
        raise NotFoundError(f"no entry with leaf hash {leaf.hex()} in the log at size "
                            f"{cp.size} (according to its index); not included yet?")

    def _warnings(self) -> tuple[str, ...]:
        u = self._update
        return (u.warning,) if u and u.warning else ()


# ----- offline ------------------------------------------------------------------------------


def verify_bundle(
    bundle: ProofBundle,
    vkey: str,
    *,
    origin: str | None = None,
    policy: WitnessPolicy = WitnessPolicy(),
    entry: bytes | None = None,
    trust: TrustStore | None = None,
) -> VerifiedEntry:
    """Verify a proof bundle with no network: checkpoint, witnesses, inclusion, entry.

    ``entry`` is the entry the caller holds (e.g. recomputed from an artifact); it must be the
    bundle's entry if the bundle carries one. With ``trust``, a bundle whose checkpoint has the
    trusted tree size but another root is a fork.
    """
    log = new_verifier(vkey.strip())
    origin = origin or log.name
    cp = open_log_checkpoint(bundle.checkpoint, log, origin, policy, source="bundle checkpoint")
    if entry is not None and bundle.entry is not None and entry != bundle.entry:
        raise VerificationError("the bundle's entry is not the entry you hold")
    data = entry if entry is not None else bundle.entry
    if data is None:
        raise ConfigError("this proof does not carry the entry: give the entry it proves "
                          "(for example --artifact, --signature and --public-key)")
    if bundle.index >= cp.size:
        raise VerificationError(f"bundle: index {bundle.index} is outside tree size {cp.size}")
    leaf = leaf_hash(data)
    try:
        check_inclusion(bundle.proof, bundle.index, cp.size, leaf, cp.root_hash)
    except VerificationError as e:
        raise VerificationError(f"bundle: {e}") from e
    warning = (_compare_with_trusted(trust, origin, vkey.strip(), log, cp, bundle.index)
               if trust else "")
    return VerifiedEntry(bundle.index, data, leaf, bundle.proof, cp,
                         (warning,) if warning else ())


def _compare_with_trusted(
    trust: TrustStore, origin: str, vkey: str, log: Verifier, cp: VerifiedCheckpoint,
    index: int,
) -> str:
    """A fork if the bundle's tree has the trusted size and another root; a warning if its
    size differs: a bundle carries no consistency proof, so offline that is not checked."""
    old = trust.load(origin, vkey)
    if old is None:
        return ""
    trusted = open_log_checkpoint(old, log, origin, source="trusted checkpoint")
    if trusted.size != cp.size:
        age = "older" if cp.size < trusted.size else "newer"
        return (f"the bundle's tree (size {cp.size}) is {age} than the checkpoint you trust "
                f"(size {trusted.size}), and a bundle carries no proof that the two are "
                f"consistent: not checked offline (`tlog verify --index {index}` with the "
                "log checks it online)")
    if trusted.root_hash != cp.root_hash:
        paths = trust.write_evidence(origin, vkey, trusted.note, cp.note)
        raise ForkError(
            f"fork: the bundle's checkpoint and the trusted one both have size {cp.size} but "
            f"different roots; evidence: {paths[0]} {paths[1]}",
            evidence=(trusted.note, cp.note),
        )
    return ""
