"""Exhaustive and property tests of the Merkle/tile core against a naive RFC 6962 implementation."""

from __future__ import annotations

import contextlib
import hashlib
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlog.checkpoint import parse_checkpoint
from tlog.cosignature import cosignature_timestamp, parse_any_verifier
from tlog.errors import MalformedError, VerificationError
from tlog.index import decode_records, parse_manifest
from tlog.integrate import edge_root, edge_tiles, integrate, integrate_bundles
from tlog.merkle import (
    check_consistency,
    check_inclusion,
    leaf_hash,
    node_hash,
    prove_consistency,
    prove_inclusion,
    tree_root,
)
from tlog.note import new_signer, new_verifier, open_note
from tlog.tiles import (
    Tile,
    TileHashReader,
    decode_entry_bundle,
    decode_hash_tile,
    parse_tile_path,
    tiles_for_size,
)

SETTINGS = settings(deadline=None, max_examples=60, suppress_health_check=list(HealthCheck))


# ----- a naive RFC 6962 implementation, straight from the definitions -------------------------

LEAVES = [leaf_hash(b"leaf %d" % i) for i in range(300)]


@cache
def naive_mth(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) by the RFC's recursion (memoised per range)."""
    if hi == lo:
        return hashlib.sha256(b"").digest()
    if hi - lo == 1:
        return LEAVES[lo]
    k = 1 << ((hi - lo - 1).bit_length() - 1)
    return node_hash(naive_mth(lo, lo + k), naive_mth(lo + k, hi))


def naive_path(m: int, lo: int, hi: int) -> list[bytes]:
    """RFC 6962 PATH(m, D[lo:hi])."""
    if hi - lo <= 1:
        return []
    k = 1 << ((hi - lo - 1).bit_length() - 1)
    if m < k:
        return [*naive_path(m, lo, lo + k), naive_mth(lo + k, hi)]
    return [*naive_path(m - k, lo + k, hi), naive_mth(lo, lo + k)]


def naive_proof(m: int, lo: int, hi: int, whole: bool = True) -> list[bytes]:
    """RFC 6962 SUBPROOF(m, D[lo:hi], whole)."""
    if m == hi - lo:
        return [] if whole else [naive_mth(lo, hi)]
    k = 1 << ((hi - lo - 1).bit_length() - 1)
    if m <= k:
        return [*naive_proof(m, lo, lo + k, whole), naive_mth(lo + k, hi)]
    return [*naive_proof(m - k, lo + k, hi, False), naive_mth(lo, lo + k)]


def tiles_reader(size: int, tiles: dict[str, bytes], root: bytes) -> TileHashReader:
    return TileHashReader(size, root, lambda ts: [tiles[t.path] for t in ts])


@pytest.fixture(scope="module")
def tiles_by_size() -> dict[int, tuple[dict[str, bytes], bytes]]:
    """For every size 0..300, all of that tree's tiles (built incrementally) and its root."""
    out = {}
    store: dict[str, bytes] = {}
    for size in range(301):
        if size:
            edge = {t: store[t.path] for t in edge_tiles(size - 1)}
            integ = integrate(size - 1, edge, [LEAVES[size - 1]])
            store.update({t.path: b for t, b in integ.tiles.items()})
            root = integ.root
        else:
            root = hashlib.sha256(b"").digest()
        out[size] = ({t.path: store[t.path] for t in tiles_for_size(size)}, root)
    return out


def test_every_size_every_index(tiles_by_size: dict) -> None:
    for size in range(301):
        tiles, root = tiles_by_size[size]
        assert root == naive_mth(0, size)
        reader = tiles_reader(size, tiles, root)
        assert tree_root(size, reader) == root
        for i in range(size):
            proof = prove_inclusion(i, size, reader)
            assert proof == naive_path(i, 0, size)
            check_inclusion(proof, i, size, LEAVES[i], root)


def test_every_pair_of_sizes(tiles_by_size: dict) -> None:
    for new in range(1, 301):
        tiles, root = tiles_by_size[new]
        reader = tiles_reader(new, tiles, root)
        for old in range(1, new + 1):
            proof = prove_consistency(old, new, reader)
            assert proof == naive_proof(old, 0, new)
            check_consistency(proof, old, new, tiles_by_size[old][1], root)


def test_read_leaves_is_read_hashes_of_each_leaf(tiles_by_size: dict) -> None:
    """Leaf hashes sliced from authenticated level-0 tiles (what a monitor reads) equal the
    leaves one by one, across tile edges and partial tiles; a tampered tile is refused."""
    for size in (1, 255, 256, 257, 300):
        tiles, root = tiles_by_size[size]
        for lo, hi in ((0, size), (0, 0), (size - 1, size), (min(200, size - 1), size),
                       (size // 3, 2 * size // 3)):
            got = tiles_reader(size, tiles, root).read_leaves(lo, hi)
            assert got == LEAVES[lo:hi] == tiles_reader(size, tiles, root).read_hashes(
                [(0, i) for i in range(lo, hi)]), (size, lo, hi)
        with pytest.raises(MalformedError):
            tiles_reader(size, tiles, root).read_leaves(0, size + 1)
    tiles, root = tiles_by_size[300]
    bad = dict(tiles, **{"tile/0/000": _flip(tiles["tile/0/000"], 3)})
    with pytest.raises(VerificationError):
        tiles_reader(300, bad, root).read_leaves(10, 20)


# ----- larger random sizes: a lazily computed tree up to 2^20 ---------------------------------


@cache
def lazy_node(h: int, k: int) -> bytes:
    if h == 0:
        return hashlib.sha256(k.to_bytes(8, "big")).digest()
    return node_hash(lazy_node(h - 1, 2 * k), lazy_node(h - 1, 2 * k + 1))


class LazyReader:
    def read_hashes(self, nodes):  # type: ignore[no-untyped-def]
        return [lazy_node(h, k) for h, k in nodes]


BIG = 1 << 20


@pytest.fixture(scope="module")
def big_tiles() -> dict[tuple[int, int], bytes]:
    """Tiles of the 2^20-leaf lazy tree; any smaller tree's tiles are prefixes of these."""
    integ = integrate(0, {}, [lazy_node(0, i) for i in range(BIG)])
    return {(t.level, t.n): b for t, b in integ.tiles.items()}


def _big_reader(size: int, big: dict, root: bytes) -> TileHashReader:
    return TileHashReader(size, root, lambda ts: [big[(t.level, t.n)][: 32 * t.width] for t in ts])


def _flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


@SETTINGS
@given(data=st.data())
def test_random_sizes_up_to_2_20(big_tiles: dict, data: st.DataObject) -> None:
    size = data.draw(st.integers(1, BIG))
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    root = tree_root(size, LazyReader())
    reader = _big_reader(size, big_tiles, root)
    assert tree_root(size, reader) == root
    proof = prove_inclusion(index, size, reader)
    assert proof == prove_inclusion(index, size, LazyReader())
    leaf = lazy_node(0, index)
    check_inclusion(proof, index, size, leaf, root)
    cons = prove_consistency(old, size, reader)
    old_root = tree_root(old, LazyReader())
    check_consistency(cons, old, size, old_root, root)
    # Any flipped bit, wrong index or size, or a missing/extra node must fail.
    bit = data.draw(st.integers(0, 255))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
        with pytest.raises(VerificationError):
            check_inclusion(bad, index, size, leaf, root)
        with pytest.raises(VerificationError):
            check_inclusion(proof[:-1], index, size, leaf, root)
    with pytest.raises(VerificationError):
        check_inclusion([*proof, root], index, size, leaf, root)
    with pytest.raises(VerificationError):
        check_inclusion(proof, index, size, _flip(leaf, bit), root)
    with pytest.raises(VerificationError):
        check_inclusion(proof, index, size, leaf, _flip(root, bit))
    for wrong_index in (index - 1, index + 1):
        if 0 <= wrong_index < size and proof:
            with pytest.raises(VerificationError):
                check_inclusion(proof, wrong_index, size, leaf, root)
    if size * 2 <= BIG:
        with pytest.raises(VerificationError):
            check_inclusion(proof, index, size * 2, leaf, root)
    if cons:
        j = data.draw(st.integers(0, len(cons) - 1))
        bad = [*cons[:j], _flip(cons[j], bit), *cons[j + 1 :]]
        with pytest.raises(VerificationError):
            check_consistency(bad, old, size, old_root, root)
    if old < size:
        with pytest.raises(VerificationError):
            check_consistency(cons, old, size, _flip(old_root, bit), root)
        with pytest.raises(VerificationError):
            check_consistency(cons, old, size, root, old_root)


# ----- batch boundaries do not change a single byte ---------------------------------------------


@pytest.mark.parametrize("batches", [[1] * 600, [7] * 90, [255, 256, 257, 1000], [1000, 1, 2]])
def test_batches_give_identical_tiles(batches: list[int]) -> None:
    _assert_batches(batches)


@SETTINGS
@given(st.lists(st.integers(1, 700), min_size=1, max_size=12))
def test_random_batches_give_identical_tiles(batches: list[int]) -> None:
    _assert_batches(batches)


def _assert_batches(batches: list[int]) -> None:
    total = sum(batches)
    leaves = [leaf_hash(b"x%d" % i) for i in range(total)]
    entries = [b"x%d" % i for i in range(total)]
    once = integrate(0, {}, leaves)
    once_bundles = integrate_bundles(0, None, entries)
    store: dict[Tile, bytes] = {}
    bundles: dict[Tile, bytes] = {}
    size = 0
    for b in batches:
        edge = {t: store[t] for t in edge_tiles(size)}
        partial = next(
            (
                v
                for t, v in bundles.items()
                if t.n == size // 256 and not t.is_full and t.width == size % 256
            ),
            None,
        )
        integ = integrate(size, edge, leaves[size : size + b])
        for t, data in integ.tiles.items():
            assert t not in store or store[t] == data  # never rewritten differently
            store[t] = data
        bundles.update(integrate_bundles(size, partial, entries[size : size + b]))
        size += b
        assert integ.root == edge_root(size, {t: store[t] for t in edge_tiles(size)})
    assert integ.root == once.root
    final = {t: store[t] for t in tiles_for_size(total)}
    assert final == once.tiles
    for t, data in store.items():  # every partial tile is a prefix of the final tile
        full = (
            once.tiles.get(Tile(t.level, t.n))
            or once.tiles[next(x for x in once.tiles if (x.level, x.n) == (t.level, t.n))]
        )
        assert full.startswith(data)
    for t, data in bundles.items():
        if t.is_full or (t.width == total % 256 and t.n == total // 256):
            assert once_bundles[t] == data


# ----- untrusted bytes: only MalformedError ------------------------------------------------------

PARSERS = [
    lambda b: parse_tile_path(b.decode("latin-1")),
    lambda b: decode_hash_tile(b, 1 + len(b) % 256),
    lambda b: decode_entry_bundle(b, 1 + b[0] % 256 if b else 1),
    lambda b: parse_checkpoint(b.decode("utf-8", "replace")),
    lambda b: new_verifier(b.decode("utf-8", "replace")),
    lambda b: new_signer(b.decode("utf-8", "replace")),
    lambda b: parse_any_verifier(b.decode("utf-8", "replace")),
    lambda b: cosignature_timestamp(b),
    lambda b: parse_manifest(b),
    lambda b: decode_records(b),
]
SEEDS = [
    b"tile/0/x001/x234/067.p/8",
    b"tile/entries/000",
    b"\x00\x01a\x00\x0bhello world",
    b"example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
    b"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    b"PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    b'{"version":1,"size":0,"t1":1,"t2":2,"shards":[]}',
]


def _mutate(seed: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    b = bytearray(seed)
    for kind, pos, val in ops:
        if not b:
            b.append(val)
            continue
        p = pos % len(b)
        if kind == 0:
            b[p] = val
        elif kind == 1:
            del b[p]
        else:
            b.insert(p, val)
    return bytes(b)


@settings(deadline=None, max_examples=300)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.tuples(
            st.sampled_from(SEEDS),
            st.lists(
                st.tuples(st.integers(0, 2), st.integers(0, 999), st.integers(0, 255)), max_size=4
            ),
        ).map(lambda x: _mutate(*x)),
    ),
    st.sampled_from(range(len(PARSERS))),
)
def test_parsers_raise_only_malformed(data: bytes, which: int) -> None:
    with contextlib.suppress(MalformedError):
        PARSERS[which](data)


NOTE = (
    "example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n— example.com/log 1FXF"
    "IQghEbt48JV0nbbvyoj51oOGWi8PWVu51z3js1zWy2qLhh2zcvy6M2X+e8pEVRpGR/9z7MVVru29jIzLkdPuEwg=\n"
).encode()
LOG_VKEY = "example.com/log+d455c521+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"


@settings(deadline=None, max_examples=400)
@given(st.integers(0, len(NOTE) * 8 - 1))
def test_any_flipped_bit_of_a_note_fails(bit: int) -> None:
    with pytest.raises((MalformedError, VerificationError)):
        open_note(_flip(NOTE, bit), [new_verifier(LOG_VKEY)])


@settings(deadline=None, max_examples=300)
@given(
    st.binary(max_size=400), st.tuples(st.integers(0, 2), st.integers(0, 999), st.integers(0, 255))
)
def test_open_note_on_garbage(data: bytes, op: tuple[int, int, int]) -> None:
    for msg in (data, _mutate(NOTE, [op])):
        with contextlib.suppress(MalformedError, VerificationError):
            open_note(msg, [new_verifier(LOG_VKEY)])
