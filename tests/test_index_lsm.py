"""The static lookup index: complete, bounded in objects per batch, ≤ 4 GETs per lookup."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog import index as ix
from tlog.errors import ConfigError, MalformedError, NotFoundError


class DictStore:
    """Objects in a dict; counts reads the way a client would send them."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads = 0
        self.bytes_read = 0

    def read(self, path: str) -> bytes:
        self.reads += 1
        if path not in self.objects:
            raise NotFoundError("missing", key=path)
        self.bytes_read += len(self.objects[path])
        return self.objects[path]

    def read_range(self, path: str, start: int, end: int) -> bytes:
        self.reads += 1
        data = self.objects[path][start:end]
        self.bytes_read += len(data)
        return data


def _run(batches: list[int], t1: int, t2: int, seed: int = 1) -> set[int]:
    rnd = random.Random(seed)
    store, truth = DictStore(), {}
    manifest = ix.empty_manifest()
    manifest = ix.Manifest(0, manifest.levels, t1, t2)
    size = 0
    levels_used: set[int] = set()
    shared = [ix.search_key(f"key:{k}") for k in range(5)]  # keys that sign many entries
    for b in batches:
        records = []
        for i in range(size, size + b):
            leaf = hashlib.sha256(b"%d-%d" % (seed, i)).digest()
            records += [(ix.leaf_key(leaf), i), (rnd.choice(shared), i)]
        upd = ix.update_index(manifest, records, size + b, store.read)
        assert len(upd.objects) <= ix.SHARDS  # one object per shard at most (+ the manifest)
        for path, data in upd.objects.items():
            assert path not in store.objects  # immutable: never rewritten
            store.objects[path] = data
        manifest, size = upd.manifest, size + b
        levels_used |= {lvl for shard in manifest.levels for lvl, r in enumerate(shard) if r}
        for k, i in records:
            truth.setdefault(k, set()).add(i)
        sample = rnd.sample(sorted(truth), min(40, len(truth)))
        for k in sample:
            assert ix.lookup(manifest, k, store.read_range) == sorted(truth[k])
        found = ix.lookup_many(manifest, list(truth), lambda ref: store.read(ref.path))
        assert {k: set(v) for k, v in found.items()} == truth
    return levels_used


def test_completeness_through_every_level() -> None:
    assert _run([1, 7, 50, 300, 3000, 2, 800, 1500, 60, 2000], t1=50, t2=400) == {0, 1, 2}


@settings(deadline=None, max_examples=15)
@given(st.lists(st.integers(1, 900), min_size=1, max_size=8), st.integers(0, 99))
def test_completeness_random_batches(batches: list[int], seed: int) -> None:
    _run(batches, t1=40, t2=300, seed=seed)


def test_deterministic() -> None:
    def build() -> tuple[bytes, dict[str, bytes]]:
        store, m = DictStore(), ix.empty_manifest()
        for b in range(5):
            recs = [(hashlib.sha256(b"%d" % i).digest(), i) for i in range(b * 100, b * 100 + 100)]
            upd = ix.update_index(m, recs, (b + 1) * 100, store.read)
            store.objects.update(upd.objects)
            m = upd.manifest
        return ix.format_manifest(m), store.objects

    assert build() == build()


def _level(shard: int, n: int, start: int) -> tuple[bytes, list[bytes]]:
    raw = os.urandom(32 * n)
    keys = sorted(bytes([shard << 4 | raw[32 * i] & 15]) + raw[32 * i + 1 : 32 * i + 32]
                  for i in range(n))
    return b"".join(ix.encode_record(k, start + i) for i, k in enumerate(keys)), keys


def test_ten_million_entries_four_gets() -> None:
    """Shard 0 of a 10M-entry index at full size: 30M records / 16 shards in L3, a full L2 and
    L1. Built directly (not by 10,000 batches); lookups go to this shard."""
    store = DictStore()
    rng = random.Random(5)
    sizes = (ix.T1, ix.T2, 30_000_000 // 16)
    refs, probes = [], []
    for level, n in enumerate(sizes):
        data, keys = _level(0, n, start=level * 10_000_000)
        path = f"index/{level + 1}/0/{10_000_000 - level}"
        store.objects[path] = data
        refs.append(ix.level_ref(path, data))
        probes += [(keys[j], level * 10_000_000 + j) for j in rng.sample(range(n), 40)]
    empty = (None, None, None)
    manifest = ix.Manifest(10_000_000, (tuple(refs),) + (empty,) * 15)
    store.objects[ix.manifest_path(10_000_000)] = ix.format_manifest(manifest)
    absent = [bytes([rng.randrange(16)]) + os.urandom(31) for _ in range(100)]
    worst = total_bytes = 0
    for key, idx in probes + [(k, -1) for k in absent]:
        store.reads = store.bytes_read = 0
        m = ix.parse_manifest(store.read(ix.manifest_path(10_000_000)))
        got = ix.lookup(m, key, store.read_range)
        assert got == ([idx] if idx >= 0 else [])
        worst = max(worst, store.reads)
        total_bytes += store.bytes_read
    avg = total_bytes // (len(probes) + len(absent))
    print(f"\n10M entries: worst GETs per lookup {worst} (manifest included), "
          f"average bytes read {avg}")
    assert worst <= 4


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=500))
def test_parsers_only_raise_malformed(data: bytes) -> None:
    for parse in (ix.parse_manifest, ix.decode_records):
        with contextlib.suppress(MalformedError, ConfigError):  # ConfigError: a newer version
            parse(data)


def test_manifest_rejects_bad_paths() -> None:
    m = ix.empty_manifest(3)
    doc = ix.format_manifest(m).replace(b"null", b'{"path":"../etc","records":1}', 1)
    with pytest.raises(MalformedError):
        ix.parse_manifest(doc)


def test_lookup_many_on_large_and_small_levels() -> None:
    """Dedup lookups take two paths: a key set for small levels (an L1), a fenced byte search
    for large ones. Both give every index of present keys (a key repeated across fence
    boundaries, a key whose bytes also occur inside another record) and nothing for absent
    ones, with the level given as bytes or as a kept ``LevelView``."""
    rng = random.Random(9)
    shared = b"\x05" * 32  # one key signing many entries: a run of records over many fences
    for n in (ix._SET_LEVEL // 2, ix._SET_LEVEL * 3):  # small: key set; large: byte search
        data, keys = _level(0, n, start=0)
        records = ix._chunks(data) + [ix.encode_record(shared, i) for i in range(n, n + 700)]
        # A key whose prefix appears in the data only straddling two records must not be
        # found.
        straddle = (records[7] + records[8])[9:17] + bytes(24)
        records.sort()
        level = b"".join(records)
        path = "index/2/0/1"
        manifest = ix.Manifest(1, ((None, ix.level_ref(path, level), None),) + ((None,) * 3,) * 15)
        view = ix.level_view(level)
        assert (view.keys is None) == (n > ix._SET_LEVEL)
        truth = {keys[j]: [j] for j in rng.sample(range(n), 50)}
        truth[shared] = list(range(n, n + 700))
        absent = [bytes([rng.randrange(16)]) + os.urandom(31) for _ in range(50)]
        assert straddle[:8] in level and straddle[:8] not in {k[:8] for k in keys}
        for held in ({path: level}, {path: view}):
            got = ix.lookup_many(manifest, [*truth, *absent, straddle],
                                 lambda r, held=held: held[r.path])
            assert got == truth


def test_merge_shards_equals_merge_records() -> None:
    """The sequencer's per-shard merge builds the same objects and manifest as the checked
    path that sorts and splits the records itself."""
    rng = random.Random(3)
    m = ix.Manifest(0, ix.empty_manifest().levels, 50, 400)
    store: dict[str, bytes] = {}
    size = 0
    for b in (30, 120, 7, 300, 90):
        recs = [ix.encode_record(os.urandom(32), i) for i in range(size, size + b)]
        rng.shuffle(recs)
        ordered = sorted(recs)
        shards = [[r for r in ordered if r[0] >> 4 == s] for s in range(ix.SHARDS)]
        a = ix.merge_records(m, recs, size + b, store.__getitem__)
        assert ix.merge_shards(m, shards, size + b, store.__getitem__) == a
        store.update(a.objects)
        m, size = a.manifest, size + b
    with pytest.raises(MalformedError):
        ix.merge_shards(m, [[]] * 3, size, store.__getitem__)


def test_manifest_publishes_fences_and_hot_keys_cost_no_extra_gets() -> None:
    """The fence keys of L2 and L3 go out in the published manifest (and come back from it),
    so a lookup reads exactly the block that can hold its key, even when one key (a key
    fingerprint that signs a third of the log) fills many blocks."""
    store = DictStore()
    hot = b"\x05" + b"\x77" * 31
    keys = sorted([bytes([0x05]) + os.urandom(31) for _ in range(60_000)] + [hot] * 30_000)
    data = b"".join(ix.encode_record(k, i) for i, k in enumerate(keys))
    ref = ix.level_ref("index/2/0/90000", data)
    store.objects[ref.path] = data
    manifest = ix.Manifest(90_000, ((None, ref, None),) + ((None,) * 3,) * 15)
    published = ix.format_manifest(manifest)
    assert b'"fences"' in published and ix.parse_manifest(published) == manifest
    m = ix.parse_manifest(published)
    truth = {k: [] for k in keys}
    for i, k in enumerate(keys):
        truth[k].append(i)
    for key in [hot, keys[0], keys[-1], keys[keys.index(hot) - 1], *random.sample(keys, 20)]:
        store.reads = 0
        assert ix.lookup(m, key, store.read_range) == truth[key]
        assert store.reads == 1  # one exact range read of L2 (the manifest is read apart)


def test_l1_is_read_by_range_too() -> None:
    """The sequencer's L1 objects carry fences as well, so a client reads the block of L1
    that can hold the key, not the whole object (up to 160 KB)."""
    store = DictStore()
    m = ix.empty_manifest()
    recs = [(hashlib.sha256(b"%d" % i).digest(), i) for i in range(3 * 16 * 1000)]
    upd = ix.update_index(m, recs, len(recs), store.read, t1=ix.T1, t2=ix.T2)  # stays in L1
    store.objects.update(upd.objects)
    m = ix.parse_manifest(ix.format_manifest(upd.manifest))
    for key, i in recs[:50]:
        l1 = m.levels[key[0] >> 4][0]
        assert l1 is not None and l1.fences
        store.reads = store.bytes_read = 0
        assert ix.lookup(m, key, store.read_range) == [i]
        assert store.reads == 1
        assert store.bytes_read <= 2 * 512 * ix.RECORD_SIZE < l1.records * ix.RECORD_SIZE


def _rewrites(batches: int, entries: int, **thresholds: int) -> float:
    """Index bytes written over ``batches`` batches of ``entries`` entries (3 records each, as
    the sequencer makes them), divided by the records' own bytes."""
    objects: dict[str, bytes] = {}
    m, written, records = ix.empty_manifest(), 0, 0
    for b in range(batches):
        recs = []
        for i in range(b * entries, (b + 1) * entries):
            leaf = hashlib.sha256(b"%d" % i).digest()
            recs += [(leaf, i), (ix.search_key(f"sha256:{leaf.hex()}"), i),
                     (ix.search_key(f"key:{i % 4}"), i)]
        upd = ix.update_index(m, recs, (b + 1) * entries, objects.__getitem__, **thresholds)
        objects.update(upd.objects)
        m = upd.manifest
        written += sum(map(len, upd.objects.values()))
        records += len(recs)
    return written / (records * ix.RECORD_SIZE)


def test_small_batches_do_not_rewrite_the_index_each_time() -> None:
    """300 batches of 57 entries (what `tlog serve` commits under load): the thresholds follow
    the batches, so each record is written about 10 times, not 116 times as with the fixed
    thresholds of the first version (every batch rewrote all sixteen L1s of up to 4,096)."""
    fixed = _rewrites(300, 57, t1=ix.T1, t2=ix.T2)
    ratio = _rewrites(300, 57)
    assert fixed > 100 and ratio < 15, (fixed, ratio)


def test_thresholds_grow_with_the_log() -> None:
    """t1 ≈ b·r and t2 ≈ b·r² with r = (n/b)^⅓: each level about r times the one above."""
    def manifest(records: int, t1: int, t2: int) -> ix.Manifest:
        refs = (None, None, ix.LevelRef("index/3/0/1", records // ix.SHARDS))
        return ix.Manifest(1, (refs,) * ix.SHARDS, t1, t2)

    b = 1875  # records per shard of a 10,000-entry batch
    small = ix.thresholds(manifest(3 * 10**6, b * 10, b * 100), 16 * b)
    big = ix.thresholds(manifest(3 * 10**8, b * 10, b * 100), 16 * b)
    assert 3 * b < small[0] < big[0] < 30 * b and small[1] < big[1]
    r = (3 * 10**8 / 16 / b) ** (1 / 3)
    assert abs(big[0] / b - r) < 0.5 and abs(big[1] / (b * r * r) - 1) < 0.05
    # A new log's first batch sets b̂ (ten records a shard: t1 = 2·10), not the defaults.
    assert ix.thresholds(ix.empty_manifest(), 16 * 10) == (20, 40)


class _Touches:
    """A level's bytes that records the record ranges a lookup reads or searches."""

    def __init__(self, data: bytes) -> None:
        self.data, self.spans = data, []  # type: list[int]

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, s: slice) -> bytes:
        self.spans.append(max(1, (s.stop - s.start) // ix.RECORD_SIZE))
        return self.data[s]

    def find(self, sub: bytes, start: int, end: int) -> int:
        self.spans.append((end - start) // ix.RECORD_SIZE)
        return self.data.find(sub, start, end)


@pytest.mark.parametrize("fenced", [False, True])
def test_dedup_lookups_read_a_few_records_however_large_the_level(fenced: bool) -> None:
    """A million-record level (an L3 at about 5·10^6 entries): lookups of present, absent,
    repeated and extreme keys find exactly the truth, and search a few dozen records each,
    not the whole fenced window (n/4,096 records, or n/512 with the manifest's fences, which
    grows with the level)."""
    n, rng = 1_000_000, random.Random(9)
    step = (1 << 252) // n
    keys = [(i * step + rng.randrange(step)).to_bytes(32, "big") for i in range(n)]
    hot = keys[n // 2]
    keys[n // 2 + 1 : n // 2 + 301] = [hot] * 300  # one key on 301 records, across windows
    data = b"".join(ix.encode_record(k, i) for i, k in enumerate(keys))
    touched = _Touches(data)
    if fenced:  # the sequencer's: the manifest's fence keys, no page read to make the view
        view, ref = ix.level_view(touched, fenced=True), ix.level_ref("index/3/0/1", data)
        assert not touched.spans and ref.stride > 1000
    else:
        view, ref = ix.level_view(touched), ix.LevelRef("index/3/0/1", n)
        assert view.stride > 200
    manifest = ix.Manifest(n, ((None, None, ref),) + ((None, None, None),) * 15)
    present = [*rng.sample(range(n), 300), 0, n - 1]
    absent = [(rng.randrange(n) * step + step // 2 + 1).to_bytes(32, "big") for _ in range(300)]
    extremes = [bytes(32), bytes([0x0f]) + b"\xff" * 31]
    asked = [keys[i] for i in present] + absent + extremes + [hot]
    touched.spans.clear()
    found = ix.lookup_many(manifest, asked, lambda _: view)
    truth: dict[bytes, list[int]] = {}
    wanted = set(asked)
    for i, k in enumerate(keys):
        if k in wanted:
            truth.setdefault(k, []).append(i)
    assert found == truth
    assert sum(touched.spans) / len(asked) < 100, (view.stride, sum(touched.spans) / len(asked))


def test_shards_do_not_all_merge_into_l3_in_one_batch() -> None:
    """Keys are uniform, so the sixteen shards fill at the same pace: with equal thresholds
    they all merged into L3 in the same batch, which rewrote the whole index at once (at
    10^8 entries, 11.6 GB in one staging bundle, over S3's 5 GB limit for one object).
    Replayed to 10^7 entries in batches of 10,000: no batch writes a sixth of the index."""
    steps = list(ix.replay_counts(30_000, 1000))
    largest = max(written for *_, written in steps)
    index_bytes = sum(map(sum, steps[-1][0])) * ix.RECORD_SIZE
    assert largest < index_bytes / 6, (largest, index_bytes)


def test_a_version_1_index_is_read_and_rewritten_short() -> None:
    """A log indexed before short records (40-byte records, manifest version 1) keeps
    working: its objects are read as they are (whole keys: exact answers), and a merge that
    reaches one rewrites it in 13-byte records. Two keys sharing their first 8 bytes sort by
    key in the old records and by index in the new (the cut re-sorts them); each is then a
    candidate for the other."""
    from loglib import write_v1_index

    store = DictStore()
    rng = random.Random(5)
    truth: dict[bytes, list[int]] = {}
    records = []
    for i in range(3000):
        key = bytes([i % 16 << 4 | rng.randrange(16)]) + rng.randbytes(31)
        records.append((key, i))
        truth[key] = [i]
    twin_a, twin_b = b"\x33" * 8 + bytes(24), b"\x33" * 8 + b"\xff" * 24
    records += [(twin_a, 3001), (twin_b, 3000)]
    write_v1_index(store.objects.__setitem__, 3002, records)
    m = ix.parse_manifest(store.objects[ix.manifest_path(3002)])
    assert {r.record for s in m.levels for r in s if r} == {ix.WIDE_RECORD}
    for key in [twin_a, twin_b, *rng.sample(sorted(truth), 50)]:
        want = truth.get(key) or ([3001] if key == twin_a else [3000])
        assert ix.lookup(m, key, store.read_range) == want
    assert ix.lookup_many(m, [twin_a, twin_b], lambda r: store.read(r.path)) == {
        twin_a: [3001], twin_b: [3000]}
    # A batch merged all the way into L3 in every shard: every object is rewritten short.
    new = [(hashlib.sha256(b"%d" % i).digest(), i) for i in range(3002, 3202)]
    upd = ix.update_index(m, new, 3202, store.read, t1=1, t2=2)
    store.objects.update(upd.objects)
    m2 = ix.parse_manifest(ix.format_manifest(upd.manifest))
    published = json.loads(ix.format_manifest(m2))
    # A reader of version 1 that ignores the version finds no "shards": no index, rather than
    # 13-byte records read as 40-byte ones (what verify_inclusion.py before version 2 does).
    assert published["version"] == 2 and "shards" not in published
    refs = [r for s in m2.levels for r in s if r]
    assert refs and {r.record for r in refs} == {ix.RECORD_SIZE}
    assert all(len(store.objects[r.path]) == r.records * 13 for r in refs)
    for key, i in [*new, *rng.sample(records[:3000], 50)]:
        assert ix.lookup(m2, key, store.read_range) == [i]
    assert ix.lookup(m2, twin_a, store.read_range) == [3000, 3001]
    assert ix.lookup_many(m2, [twin_b], lambda r: store.read(r.path)) == {twin_b: [3000, 3001]}
    assert ix.lookup(m2, b"\x33" * 7 + b"\x34" + bytes(24), store.read_range) == []


def test_short_records_write_a_third_of_the_bytes_and_keep_lookups_exact() -> None:
    """The same batches as whole-key records would take: objects 13/40 the size, and every
    key found at its indexes with nothing else (64-bit prefixes of uniform keys do not
    collide by chance)."""
    store, m, truth = DictStore(), ix.empty_manifest(), {}
    for b in range(6):
        recs = [(hashlib.sha256(b"k%d" % i).digest(), i) for i in range(b * 500, b * 500 + 500)]
        recs += [(ix.search_key(f"key:{i % 3}"), i) for i in range(b * 500, b * 500 + 500)]
        upd = ix.update_index(m, recs, (b + 1) * 500, store.read)
        store.objects.update(upd.objects)
        m = upd.manifest
        for k, i in recs:
            truth.setdefault(k, []).append(i)
    held = sum(r.records for s in m.levels for r in s if r)
    assert held == 6000 and sum(len(store.objects[p]) for p in ix.index_paths(m)) == 6000 * 13
    for key in [*random.Random(2).sample(sorted(truth), 60), ix.search_key("key:1")]:
        assert ix.lookup(m, key, store.read_range) == truth[key]


@pytest.mark.parametrize("bad", [b'"record":13.0', b'"record":true', b'"record":12',
                                 b'"record":"13"'])
def test_a_manifest_with_a_record_size_not_13_or_40_is_malformed(bad: bytes) -> None:
    """JSON's 13.0 equals 13 in Python and ``true`` equals 1: only the integers 13 and 40 are
    record sizes (a float slipped through and failed later as a TypeError, not as a malformed
    index)."""
    recs = [(hashlib.sha256(b"%d" % i).digest(), i) for i in range(100)]
    upd = ix.update_index(ix.empty_manifest(), recs, 100, DictStore().read)
    doc = ix.format_manifest(upd.manifest)
    assert b'"record":13' in doc
    with pytest.raises(MalformedError):
        ix.parse_manifest(doc.replace(b'"record":13', bad))
