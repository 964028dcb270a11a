"""The verifying client against a log served by a plain static HTTP server on loopback.

Every tampering case asserts the reason given; rollbacks and forks are checked against the
trusted state, with evidence written. Each client gets a fresh tile cache unless a test is
about the cache, since the HTTP store keeps full tiles on disk.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from loglib import TestLog, synthetic_entries
from servers import StaticServer

from tlog.bundle import ProofBundle, format_tlog_proof, parse_any_bundle, parse_tlog_proof
from tlog.client import LogClient, verify_bundle, witness_policy
from tlog.client.trust import TrustStore
from tlog.cosignature import generate_cosignature_key, new_cosignature_signer
from tlog.errors import ConfigError, ForkError, NotFoundError, VerificationError
from tlog.merkle import check_inclusion, leaf_hash
from tlog.note import generate_key
from tlog.storage import open_store

_n = itertools.count()


class Env:
    """A served log plus what clients need: a trust folder and fresh caches."""

    def __init__(self, server: StaticServer, tmp: Path) -> None:
        self.server, self.tmp = server, tmp
        self.log = TestLog(server.root)
        self.trust = TrustStore(tmp / "trust")

    def client(self, url: str | None = None, *, trust: bool = True, **kw: object) -> LogClient:
        store = open_store(url or self.server.url, cache_dir=str(self.tmp / f"cache{next(_n)}"))
        return LogClient(store, self.log.vkey, trust=self.trust if trust else None, **kw)

    def flip(self, key: str, offset: int) -> None:
        p = self.server.root / key
        data = bytearray(p.read_bytes())
        data[offset] ^= 1
        p.write_bytes(bytes(data))

    def evidence(self) -> list[Path]:
        d = self.trust.log_dir(self.log.origin, self.log.vkey) / "evidence"
        return sorted(d.iterdir()) if d.exists() else []


@pytest.fixture
def env(static_server: StaticServer, tmp_path: Path) -> Env:
    e = Env(static_server, tmp_path)
    e.log.append(synthetic_entries(1000))
    e.log.publish()
    return e


# ----- the happy path ------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 5, 255, 256, 511, 767, 768, 999])
def test_a_correct_entry_verifies(env: Env, index: int) -> None:
    v = env.client().entry(index)
    assert v.entry == b"entry %d" % index
    assert v.leaf_hash == leaf_hash(v.entry)
    assert v.checkpoint.size == 1000 and v.checkpoint.root_hash == env.log.root_hash
    check_inclusion(v.proof, index, 1000, v.leaf_hash, env.log.root_hash)


def test_find_by_leaf_hash_uses_the_index(env: Env) -> None:
    v = env.client().find(leaf_hash(b"entry 777"))
    assert v.index == 777 and v.entry == b"entry 777"
    assert env.server.count("index/manifest/1000") == 1
    with pytest.raises(NotFoundError, match="no entry with leaf hash"):
        env.client().find(leaf_hash(b"not logged"))


def test_index_beyond_the_tree_is_not_in_the_log(env: Env) -> None:
    """Not included yet (a NotFoundError: `tlog get` exit 1, as a leaf hash not yet found;
    `tlog verify` makes it a failed check, exit 3)."""
    with pytest.raises(NotFoundError, match="entry 1000 is not in the log yet: its tree size"):
        env.client().entry(1000)


def test_a_lying_index_cannot_make_a_wrong_entry_verify(env: Env) -> None:
    # Point every key of the manifest's shards at entry 3: candidates are checked, not trusted.
    import json

    man = env.server.root / "index/manifest/1000"
    doc = json.loads(man.read_bytes())
    for shard in doc["levels"]:
        for ref in shard:
            if ref:
                p = env.server.root / ref["path"]
                recs = p.read_bytes()
                rs = ref["record"]
                p.write_bytes(b"".join(recs[i : i + rs - 5] + (3).to_bytes(5, "big")
                                       for i in range(0, len(recs), rs)))
    with pytest.raises(VerificationError, match="none of them has it: the index is broken"):
        env.client().find(leaf_hash(b"entry 777"))


# ----- tampering, each with its reason --------------------------------------------------------


def test_tampered_level0_tile(env: Env) -> None:
    env.flip("tile/0/000", 4 * 32)  # the sibling of leaf 5
    with pytest.raises(VerificationError,
                       match=r"entry 5: tile/0/000: tile does not match its parent tile's hash"):
        env.client().entry(5)


def test_tampered_right_edge_tile(env: Env) -> None:
    env.flip("tile/0/003.p/232", 0)
    with pytest.raises(VerificationError,
                       match="entry 5: tiles on the right edge do not hash to the checkpoint root"):
        env.client().entry(5)


def test_tampered_tile_length(env: Env) -> None:
    p = env.server.root / "tile/0/000"
    p.write_bytes(p.read_bytes()[:-32])
    with pytest.raises(VerificationError, match="tile/0/000: 8160 bytes, expected 8192"):
        env.client().entry(5)


def test_tampered_entry_bundle(env: Env) -> None:
    p = env.server.root / "tile/entries/000"
    p.write_bytes(p.read_bytes().replace(b"entry 5\x00", b"entrX 5\x00", 1))
    with pytest.raises(VerificationError,
                       match=r"entry 5: tile/entries/000: the entry does not match its leaf hash"):
        env.client().entry(5)


def test_entry_and_leaf_hash_rewritten_together(env: Env) -> None:
    # The spec pitfall: both changed, parent tile untouched. The tile must fail its parent.
    b = env.server.root / "tile/entries/000"
    b.write_bytes(b.read_bytes().replace(b"entry 5\x00", b"entrX 5\x00", 1))
    t = env.server.root / "tile/0/000"
    data = bytearray(t.read_bytes())
    data[5 * 32 : 6 * 32] = leaf_hash(b"entrX 5")
    t.write_bytes(bytes(data))
    with pytest.raises(VerificationError,
                       match=r"entry 5: tile/0/000: tile does not match its parent tile's hash"):
        env.client().entry(5)


def test_malformed_entry_bundle(env: Env) -> None:
    p = env.server.root / "tile/entries/000"
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(VerificationError, match="tile/entries/000: malformed entry bundle"):
        env.client().entry(5)


def test_tampered_checkpoint(env: Env) -> None:
    p = env.server.root / "checkpoint"
    p.write_bytes(p.read_bytes().replace(b"\n1000\n", b"\n1001\n", 1))
    with pytest.raises(VerificationError, match=r"checkpoint: invalid signature for key "
                                                r"example.com/testlog\+"):
        env.client().entry(5)


def test_checkpoint_signed_by_another_key(env: Env) -> None:
    other = TestLog(env.tmp / "other")
    other.append([b"x"])
    (env.server.root / "checkpoint").write_bytes(other.sign())
    with pytest.raises(VerificationError, match="checkpoint: note has no verifiable signature"):
        env.client().entry(0)


def test_wrong_origin(env: Env) -> None:
    with pytest.raises(VerificationError, match=r"origin is 'example\.com/testlog', expected"):
        env.client(origin="example.com/other").entry(0)


# ----- partial tiles: replaced by full ones, or the reverse ------------------------------------


def test_pruned_partial_tiles_fall_back_to_full_tiles(env: Env) -> None:
    stale = (env.server.root / "checkpoint").read_bytes()
    env.log.append(synthetic_entries(300, 1000))
    env.log.publish()
    assert "tile/0/003.p/232" in env.log.prune_partials()
    (env.server.root / "checkpoint").write_bytes(stale)  # a CDN still serving size 1000
    env.server.reset()
    v = env.client(trust=False).entry(900)
    assert v.entry == b"entry 900" and v.checkpoint.size == 1000
    assert env.server.requests["tile/0/003.p/232"] == 1  # asked, 404 …
    assert env.server.requests["tile/0/003"] == 1  # … then its first 232 hashes
    assert env.server.requests["tile/entries/003.p/232"] == 1
    assert env.server.requests["tile/entries/003"] == 1


def test_a_full_tile_served_for_a_partial_one(env: Env) -> None:
    stale = (env.server.root / "checkpoint").read_bytes()
    env.log.append(synthetic_entries(300, 1000))
    env.log.publish()
    for kind in ("0", "entries"):
        full = (env.server.root / f"tile/{kind}/003").read_bytes()
        (env.server.root / f"tile/{kind}/003.p/232").write_bytes(full)
    (env.server.root / "checkpoint").write_bytes(stale)
    assert env.client(trust=False).entry(999).entry == b"entry 999"


# ----- witnesses -------------------------------------------------------------------------------


def _witnesses(n: int) -> list[tuple[object, str]]:
    out = []
    for i in range(n):
        skey, vkey = generate_cosignature_key(f"witness{i}.example")
        out.append((new_cosignature_signer(skey, time.time), vkey))
    return out


def test_witness_policy(env: Env) -> None:
    (w0, v0), (w1, v1), (_, v2) = _witnesses(3)
    env.log.publish(w0, w1)
    ok = env.client(policy=witness_policy([v0, v1])).entry(3)
    assert ok.checkpoint.cosigners == ("witness0.example", "witness1.example")
    assert env.client(policy=witness_policy([v0, v2], 1)).entry(3).checkpoint.cosigners == (
        "witness0.example",)
    with pytest.raises(VerificationError,
                       match="checkpoint: need 2 witness cosignatures, got 1"):
        env.client(policy=witness_policy([v0, v2], 2)).entry(3)
    with pytest.raises(ConfigError, match="witness threshold 3 needs at least 3"):
        witness_policy([v0, v1], 3)


def test_tampered_cosignature(env: Env) -> None:
    (w0, v0), = _witnesses(1)
    note = env.log.publish(w0)
    line = next(x for x in note.split(b"\n") if x.startswith("— witness0".encode()))
    bad = line[:-6] + (b"AAAAA=" if not line.endswith(b"AAAAA=") else b"BBBBB=")
    (env.server.root / "checkpoint").write_bytes(note.replace(line, bad))
    with pytest.raises(VerificationError, match=r"checkpoint: invalid signature for key witness0"):
        env.client(policy=witness_policy([v0])).entry(3)


# ----- proof bundles (offline) -----------------------------------------------------------------


def test_bundle_verifies_offline_and_tampering_fails(env: Env) -> None:
    b = env.client().entry(42).to_bundle()
    vkey = env.log.vkey
    assert verify_bundle(b, vkey).entry == b"entry 42"
    bad_proof = ProofBundle(b.index, b.entry, (bytes(32), *b.proof[1:]), b.checkpoint)
    with pytest.raises(VerificationError,
                       match="bundle: inclusion proof for index 42 does not match the root"):
        verify_bundle(bad_proof, vkey)
    with pytest.raises(VerificationError, match="bundle: inclusion proof"):
        verify_bundle(ProofBundle(b.index, b"entry 43", b.proof, b.checkpoint), vkey)
    with pytest.raises(VerificationError, match="bundle: inclusion proof has too few hashes"):
        verify_bundle(ProofBundle(b.index, b.entry, b.proof[:-1], b.checkpoint), vkey)
    with pytest.raises(VerificationError, match="bundle: index 5000 is outside tree size 1000"):
        verify_bundle(ProofBundle(5000, b.entry, b.proof, b.checkpoint), vkey)
    forged = b.checkpoint.replace(b"\n1000\n", b"\n999\n")
    with pytest.raises(VerificationError, match="bundle checkpoint: invalid signature"):
        verify_bundle(ProofBundle(b.index, b.entry, b.proof, forged), vkey)
    with pytest.raises(VerificationError, match="not the entry you hold"):
        verify_bundle(b, vkey, entry=b"entry 41")
    _, other = generate_key("example.com/testlog")
    with pytest.raises(VerificationError, match="bundle checkpoint: note has no verifiable"):
        verify_bundle(b, other)


def test_tlog_proof_needs_the_entry_from_elsewhere(env: Env) -> None:
    b = env.client().entry(42).to_bundle()
    bare = parse_tlog_proof(format_tlog_proof(ProofBundle(b.index, None, b.proof, b.checkpoint)))
    with pytest.raises(ConfigError, match="does not carry the entry"):
        verify_bundle(bare, env.log.vkey)
    assert verify_bundle(bare, env.log.vkey, entry=b"entry 42").index == 42
    with pytest.raises(VerificationError, match="bundle: inclusion proof"):
        verify_bundle(bare, env.log.vkey, entry=b"entry 43")
    assert verify_bundle(parse_any_bundle(format_tlog_proof(b)), env.log.vkey).index == 42


def test_bundle_with_a_forked_checkpoint_of_the_trusted_size(env: Env, tmp_path: Path) -> None:
    env.client().checkpoint()  # trust size 1000
    fork = TestLog(tmp_path / "fork", skey=env.log.skey)  # same key, another tree of size 1000
    fork.append(synthetic_entries(1000, tag=b"other"))
    fork.publish()
    b = LogClient(open_store(str(fork.root)), fork.vkey).entry(7).to_bundle()
    assert verify_bundle(b, env.log.vkey).entry == b"other 7"  # alone, a valid proof …
    with pytest.raises(ForkError, match="fork: the bundle's checkpoint and the trusted one"):
        verify_bundle(b, env.log.vkey, trust=env.trust)  # … but not of the log we trust
    assert len(env.evidence()) == 2


# ----- trusted state: growth, stale copies, rollbacks and forks --------------------------------


def _grown(static_server: StaticServer, tmp_path: Path) -> tuple[Env, bytes]:
    e = Env(static_server, tmp_path)
    e.log.append(synthetic_entries(600))
    return e, e.log.publish()


def test_growth_is_proven_and_remembered(static_server: StaticServer, tmp_path: Path) -> None:
    e, n600 = _grown(static_server, tmp_path)
    assert e.client().update_trust().status == "first-use"
    assert e.trust.load(e.log.origin, e.log.vkey) == n600
    e.log.append(synthetic_entries(400, 600))
    n1000 = e.log.publish()
    u = e.client().update_trust()
    assert (u.status, u.previous_size, u.checkpoint.size) == ("grown", 600, 1000)
    assert e.trust.load(e.log.origin, e.log.vkey) == n1000
    assert e.client().update_trust().status == "unchanged"


def test_stale_checkpoint_is_a_warning(static_server: StaticServer, tmp_path: Path) -> None:
    e, n600 = _grown(static_server, tmp_path)
    e.log.append(synthetic_entries(400, 600))
    n1000 = e.log.publish()
    e.client().checkpoint()
    (e.server.root / "checkpoint").write_bytes(n600)  # rollback to an older, consistent state
    c = e.client()
    u = c.update_trust()
    assert u.status == "stale" and u.served.size == 600 and u.checkpoint.size == 1000
    assert "older than the trusted size 1000; it is consistent" in (u.warning or "")
    v = c.entry(900)  # verified against the trusted checkpoint, not the stale one
    assert v.checkpoint.note == n1000 and v.warnings == (u.warning,)
    assert e.trust.load(e.log.origin, e.log.vkey) == n1000 and e.evidence() == []


def test_fork_with_a_larger_tree(static_server: StaticServer, tmp_path: Path) -> None:
    e, n600 = _grown(static_server, tmp_path)
    e.client().checkpoint()  # trust size 600
    with StaticServer(tmp_path / "b") as other:
        fork = TestLog(other.root, skey=e.log.skey)  # same key, a different tree
        fork.append(synthetic_entries(900, tag=b"other"))
        served = fork.publish()
        with pytest.raises(ForkError) as err:
            e.client(other.url).entry(0)
    msg = str(err.value)
    assert msg.startswith("fork: the log signed checkpoint size 900, which is not consistent "
                          "with the trusted checkpoint size 600")
    assert err.value.evidence == (n600, served)
    trusted_file, served_file = e.evidence()[1], e.evidence()[0]
    assert trusted_file.read_bytes() == n600 and served_file.read_bytes() == served
    assert str(trusted_file) in msg
    assert e.trust.load(e.log.origin, e.log.vkey) == n600  # the state did not move


def test_fork_with_the_same_size(static_server: StaticServer, tmp_path: Path) -> None:
    e, _ = _grown(static_server, tmp_path)
    e.client().checkpoint()
    fork = TestLog(tmp_path / "fork", skey=e.log.skey)
    fork.append(synthetic_entries(600, tag=b"other"))
    (e.server.root / "checkpoint").write_bytes(fork.sign())
    with pytest.raises(ForkError, match="two different roots for tree size 600"):
        e.client().checkpoint()
    assert len(e.evidence()) == 2


def test_rollback_to_an_inconsistent_tree(static_server: StaticServer, tmp_path: Path) -> None:
    e, _ = _grown(static_server, tmp_path)
    e.log.append(synthetic_entries(400, 600))
    e.log.publish()
    e.client().checkpoint()  # trust size 1000
    fork = TestLog(tmp_path / "fork", skey=e.log.skey)
    fork.append(synthetic_entries(600, tag=b"other"))
    (e.server.root / "checkpoint").write_bytes(fork.sign())  # an older size, another tree
    with pytest.raises(ForkError, match="rollback to an inconsistent tree: the log signed "
                                        "checkpoint size 600, which is not consistent"):
        e.client().checkpoint()
    assert len(e.evidence()) == 2


def test_a_tampered_tile_is_not_called_a_fork(static_server: StaticServer, tmp_path: Path) -> None:
    e, n600 = _grown(static_server, tmp_path)
    e.client().checkpoint()
    e.log.append(synthetic_entries(400, 600))
    e.log.publish()
    e.flip("tile/0/002", 0)  # read by the consistency proof 600 → 1000
    with pytest.raises(VerificationError) as err:
        e.client().checkpoint()
    assert not isinstance(err.value, ForkError)
    assert str(err.value) == ("consistency 600 → 1000: tile/0/002: tile does not match its "
                              "parent tile's hash")
    assert e.evidence() == [] and e.trust.load(e.log.origin, e.log.vkey) == n600


def test_trust_is_per_log_key(static_server: StaticServer, tmp_path: Path) -> None:
    e, _ = _grown(static_server, tmp_path)
    e.client().checkpoint()
    other = TestLog(tmp_path / "other")  # same origin, its own key: a different log
    assert e.trust.log_dir(e.log.origin, e.log.vkey) != e.trust.log_dir(other.origin, other.vkey)
    assert e.trust.load(other.origin, other.vkey) is None


def test_a_failed_check_evicts_what_it_fetched_from_the_cache(env: Env) -> None:
    # The client calls the store's optional ``evict(key)`` after a failed check, so a tampered
    # full tile does not stay in the disk cache. HTTPStore has no such hook yet: this subclass
    # adds it over HTTPStore's cache folder (one path per key).
    from tlog.storage.http import HTTPStore

    class Evicting(HTTPStore):
        def evict(self, key: str) -> None:
            if self.cache is not None:
                (self.cache / key).unlink(missing_ok=True)

    cache = str(env.tmp / "evict-cache")
    env.flip("tile/0/000", 4 * 32)
    with pytest.raises(VerificationError, match="tile/0/000"):
        LogClient(Evicting(env.server.url, cache_dir=cache), env.log.vkey).entry(5)
    env.flip("tile/0/000", 4 * 32)  # the CDN serves the right tile again
    assert LogClient(Evicting(env.server.url, cache_dir=cache), env.log.vkey).entry(5).index == 5


def test_trust_state_moves_by_compare_and_swap(tmp_path: Path) -> None:
    from tlog.errors import ConflictError

    t = TrustStore(tmp_path / "state")
    t.replace("o", "k", None, b"a\n")
    with pytest.raises(ConflictError, match="trusted state changed meanwhile"):
        t.replace("o", "k", None, b"b\n")  # someone else got there first
    t.replace("o", "k", b"a\n", b"b\n")
    assert t.load("o", "k") == b"b\n" and t.load("o", "other key") is None
    info = (t.log_dir("o", "k") / "log.json").read_text()
    assert '"origin": "o"' in info and '"vkey": "k"' in info
