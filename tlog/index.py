"""The static lookup index: 32-byte keys → log indexes, as immutable files beside the tiles.

Serves the sequencer's exact deduplication (leaf hash → index) and clients' search by artifact
digest or key fingerprint. A leaf hash is its own key; a search key string (``sha256:<hex>``,
``key:<hex>``) is keyed by ``sha256(string)``, so every key is a uniform 32-byte value.

Layout: records are ``key (32) ‖ index (uint64 BE)``, 40 bytes, sorted, no framing. Keys fall in
16 shards by their first nibble; each shard has up to three levels, each one immutable object
``index/<level>/<shard>/<generation>`` (generation = the tree size when it was written).
``index/manifest/<size>`` (JSON, immutable, one per committed tree size) names them.

Per batch, each shard that receives records merges them into its L1; an L1 over ``t1`` records
is merged into L2 (and L1 becomes empty), an L2 over ``t2`` into L3. A shard writes at most one
object per batch (the level its merge ends in), so a batch writes at most 16 + 1 objects.

Thresholds (``thresholds``) follow the log: with b̂ the records a shard receives per batch (a
moving average, carried from one manifest to the next as t1²/t2) and n a shard's records,
r = max(2, (n/b̂)^⅓), t1 = b̂·r and t2 = b̂·r²: each level about r times the one above, which
is what minimises the writes of a three-level index (a record is rewritten about r/2 times per
level: about 3·r/2 times in all). Fixed thresholds (4,096 and 131,072, the first versions')
rewrote each record about 19 times at 10^7 entries in batches of 10,000 and 82 times at 10^8,
and 200 times in batches of 57 (``tlog serve``); these thresholds: 14, 31 and 38. The floor
for any three-run index is not far below (about 12 and 28 rewrites at 10^7 and 10^8: at most
C(w+3, 3) batches can be held in three sorted runs with each record written ≤ w times).
Each shard applies them scaled by 0.75 to 1.25 (``shard_thresholds``), so that the shards,
which fill at the same pace, do not all merge into L3 in the same batch.

Cost (n = records in the log, about 3 per entry; b = records per batch):
- lookup: manifest + one range read per level: the manifest holds ≤ 512 fence keys per level
  object (one every ≥ 512 records), so each read covers exactly the block(s) that can hold the
  key: 4 GETs, about 2·max(512, n/(16·512))·40 bytes per level (older manifests without fences
  fall back to L1 whole and interpolation around the key's expected position).
- written per batch: ≤ 17 objects; on average about 3·r/2 · b · 40 bytes (``bench/index.py
  --model`` prints it for a given log size and batch).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import math
import mmap
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from tlog.errors import MalformedError

__all__ = [
    "RECORD_SIZE",
    "SHARDS",
    "IndexUpdate",
    "LevelRef",
    "LevelView",
    "Manifest",
    "decode_records",
    "empty_manifest",
    "format_manifest",
    "index_paths",
    "leaf_key",
    "level_view",
    "lookup",
    "lookup_many",
    "manifest_path",
    "merge_into",
    "merge_records",
    "merge_shards",
    "merge_target",
    "parse_manifest",
    "replay_counts",
    "search_key",
    "shard_thresholds",
    "thresholds",
    "update_index",
]

Buffer = bytes | mmap.mmap  # what lookups read level objects as
RECORD_SIZE = 40
_INDEX_TOP = operator.itemgetter(32)  # a record's index byte holding bit 63
SHARDS = 16
LEVELS = 3
T1 = 4096
T2 = 131072
_MANIFEST_PREFIX = "index/manifest/"


@dataclass(frozen=True)
class LevelRef:
    """One level object of one shard; ``fences`` holds the 8-byte key prefix of every
    ``stride``-th record, so a lookup knows exactly which records to read."""

    path: str
    records: int
    fences: bytes = b""
    stride: int = 0


MAX_FENCES = 512  # per level object: the manifest stays ~130 KB at 10^7 entries, blocks ~150 KB


def level_ref(path: str, data: bytes) -> LevelRef:
    """The manifest entry of a level object, with its fence keys."""
    n = len(data) // RECORD_SIZE
    stride = max(512, -(-n // MAX_FENCES))
    fences = b"".join(data[j * RECORD_SIZE : j * RECORD_SIZE + 8] for j in range(0, n, stride))
    return LevelRef(path, n, fences, stride)


@dataclass(frozen=True)
class Manifest:
    """Which level objects make up the index at a tree size."""

    size: int
    levels: tuple[tuple[LevelRef | None, ...], ...]
    t1: int = T1
    t2: int = T2


@dataclass(frozen=True)
class IndexUpdate:
    """The new manifest and the objects to write for it."""

    manifest: Manifest
    objects: dict[str, bytes]


def leaf_key(leaf_hash: bytes) -> bytes:
    """The key of a leaf hash (itself)."""
    if len(leaf_hash) != 32:
        raise MalformedError("leaf hash must be 32 bytes", field="leaf_hash")
    return bytes(leaf_hash)


def search_key(s: str) -> bytes:
    """The key of a search string such as ``sha256:<hex>`` or ``key:<hex>``."""
    return hashlib.sha256(s.lower().encode()).digest()


def manifest_path(size: int) -> str:
    return f"{_MANIFEST_PREFIX}{size}"


def empty_manifest(size: int = 0) -> Manifest:
    return Manifest(size, tuple((None,) * LEVELS for _ in range(SHARDS)))


def decode_records(data: bytes) -> list[tuple[bytes, int]]:
    if len(data) % RECORD_SIZE:
        raise MalformedError(f"index object of {len(data)} bytes is not whole records")
    return [
        (bytes(data[p : p + 32]), int.from_bytes(data[p + 32 : p + 40], "big"))
        for p in range(0, len(data), RECORD_SIZE)
    ]


def format_manifest(m: Manifest) -> bytes:
    """The manifest as published: per level its path, record count and (L2, L3) fence keys."""
    shards = [[None if r is None else _ref_json(r) for r in s] for s in m.levels]
    doc = {"version": 1, "size": m.size, "t1": m.t1, "t2": m.t2, "shards": shards}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _ref_json(r: LevelRef) -> dict[str, object]:
    out: dict[str, object] = {"path": r.path, "records": r.records}
    if r.fences:
        out["fences"], out["stride"] = base64.b64encode(r.fences).decode(), r.stride
    return out


def parse_manifest(data: bytes) -> Manifest:
    try:
        doc = json.loads(data)
        if doc["version"] != 1 or len(doc["shards"]) != SHARDS:
            raise MalformedError("unsupported index manifest version or shape")
        levels = []
        for shard in doc["shards"]:
            if len(shard) != LEVELS:
                raise MalformedError("index manifest shard must have 3 levels")
            refs = []
            for r in shard:
                if r is None:
                    refs.append(None)
                    continue
                path, n = r["path"], r["records"]
                if not isinstance(path, str) or not path.startswith("index/") or ".." in path:
                    raise MalformedError("bad index object path in manifest")
                if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    raise MalformedError("bad record count in manifest")
                fences = base64.b64decode(r.get("fences", ""), validate=True)
                stride = r.get("stride", 0)
                if len(fences) % 8 or not isinstance(stride, int) or isinstance(stride, bool):
                    raise MalformedError("bad fences in manifest")
                if fences and (stride < 1 or len(fences) // 8 != -(-n // stride)):
                    raise MalformedError("fences do not match the record count")
                refs.append(LevelRef(path, n, fences, stride))
            levels.append(tuple(refs))
        size, t1, t2 = doc["size"], doc["t1"], doc["t2"]
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (size, t1, t2)
        ):
            raise MalformedError("bad numbers in index manifest")
        return Manifest(size, tuple(levels), t1, t2)
    except MalformedError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
        raise MalformedError(f"index manifest is malformed: {e}") from e
    except RecursionError as e:  # json.loads recurses once per nesting level
        raise MalformedError("index manifest is malformed: nested too deeply") from e


def index_paths(m: Manifest) -> list[str]:
    """Every object a manifest references."""
    return sorted(r.path for shard in m.levels for r in shard if r is not None)


def _chunks(data: bytes) -> list[bytes]:
    return [data[p : p + RECORD_SIZE] for p in range(0, len(data), RECORD_SIZE)]


def update_index(
    manifest: Manifest,
    records: Iterable[tuple[bytes, int]],
    new_size: int,
    read: Callable[[str], bytes],
    t1: int | None = None,
    t2: int | None = None,
) -> IndexUpdate:
    """Add a batch's (key, index) records; pure given ``read`` (which reads existing level
    objects)."""
    encoded = []
    for key, idx in records:
        if len(key) != 32 or not 0 <= idx < 1 << 63:
            raise MalformedError("index records need a 32-byte key and a valid index")
        encoded.append(key + idx.to_bytes(8, "big"))
    return merge_records(manifest, encoded, new_size, read, t1, t2)


def merge_records(
    manifest: Manifest,
    records: Iterable[bytes],
    new_size: int,
    read: Callable[[str], bytes],
    t1: int | None = None,
    t2: int | None = None,
) -> IndexUpdate:
    """``update_index`` for records already encoded (``key ‖ index``, 40 bytes each), in any
    order: checked, sorted, split by shard, then ``merge_shards``."""
    batch = sorted(set(records))  # a record twice: an entry naming one search key twice
    if batch and (set(map(len, batch)) != {RECORD_SIZE} or max(map(_INDEX_TOP, batch)) & 0x80):
        raise MalformedError("index records need a 32-byte key and a valid index")
    cuts = [bisect.bisect_left(batch, bytes([s << 4])) for s in range(SHARDS)] + [len(batch)]
    shards = [batch[cuts[s] : cuts[s + 1]] for s in range(SHARDS)]
    return merge_shards(manifest, shards, new_size, read, t1, t2)


def merge_shards(
    manifest: Manifest,
    shards: Sequence[Sequence[bytes]],
    new_size: int,
    read: Callable[[str], bytes],
    t1: int | None = None,
    t2: int | None = None,
) -> IndexUpdate:
    """Merge a batch's records into the index, given as one sorted run of distinct, well-formed
    records per shard (the sequencer builds them so, as the batch is admitted; unchecked here).
    No record can be in the index already: each carries an index the tree did not have."""
    if len(shards) != SHARDS:
        raise MalformedError(f"expected {SHARDS} shards of records, got {len(shards)}")
    if t1 is None or t2 is None:
        t1, t2 = thresholds(manifest, sum(map(len, shards)))
    levels = [list(s) for s in manifest.levels]
    objects: dict[str, bytes] = {}
    for shard, new in enumerate(shards):
        if not new:
            continue
        counts = [0 if r is None else r.records for r in levels[shard]]
        target = merge_target(counts, len(new), *shard_thresholds(t1, t2, shard))
        merged = list(new)
        for level in range(target):
            ref = levels[shard][level]
            if ref is not None:
                merged += _chunks(read(ref.path))
        merged.sort()  # a few sorted runs: a linear merge
        for level in range(target):
            levels[shard][level] = None
        into = levels[shard][target]
        path = f"index/{target + 1}/{shard:x}/{new_size}"
        objects[path] = merge_into(read(into.path) if into else b"", merged)
        levels[shard][target] = level_ref(path, objects[path])
    m = Manifest(new_size, tuple(tuple(s) for s in levels), t1, t2)
    return IndexUpdate(m, objects)


def merge_into(level: Buffer, records: Sequence[bytes]) -> bytes:
    """A sorted level object with sorted ``records`` (none of them in it) merged in: the
    level's runs between the places the records go (found by galloping from the last one)
    are joined as views into it, so memory holds the result once, never the level split into
    records (an L3 at 10^8 entries holds 19 million: as Python objects, twice its 750 MB) or
    copied whole."""
    if not level:
        return b"".join(records)
    whole = memoryview(level)
    try:
        parts: list[bytes | memoryview] = []
        at, n, rs = 0, len(level) // RECORD_SIZE, RECORD_SIZE
        for rec in records:
            lo, step = at, 1  # the first record from ``at`` on that sorts after ``rec``
            while lo + step <= n and level[(lo + step - 1) * rs : (lo + step) * rs] < rec:
                lo, step = lo + step, 2 * step
            hi = min(n, lo + step)
            while lo < hi:
                mid = (lo + hi) // 2
                if level[mid * rs : (mid + 1) * rs] < rec:
                    lo = mid + 1
                else:
                    hi = mid
            if lo > at:
                parts.append(whole[at * rs : lo * rs])
            parts.append(rec)
            at = lo
        parts.append(whole[at * rs :])
        return b"".join(parts)
    finally:
        parts.clear()  # the views go before the level may be unmapped
        whole.release()


def merge_target(counts: Sequence[int], incoming: int, t1: int, t2: int) -> int:
    """The level a shard's merge ends in, given its levels' record counts and the batch's
    records for it: L1 while the merge fits in ``t1``, else L2 while it fits in ``t2``, else
    L3 (every level above the target merges into it)."""
    merged = incoming
    for level, limit in enumerate((t1, t2)):
        merged += counts[level]
        if merged <= limit:
            return level
    return LEVELS - 1


def shard_thresholds(t1: int, t2: int, shard: int) -> tuple[int, int]:
    """(t1, t2) scaled for one shard, from 0.75 (shard 0) to 1.25 (shard f) times: the sixteen
    shards fill at the same pace (keys are uniform hashes), and with equal thresholds they
    all merged into L3 in the same batch, which then wrote the whole index (11.6 GB at 10^8
    entries, in one staging bundle). Staggered, the largest batch writes about a sixth of
    that (1.5 GB; 148 MB at 10^7), for 2 % more bytes on average."""
    f = 0.75 + shard / 30
    return max(1, round(t1 * f)), max(2, round(t2 * f))


_SMOOTHING = 0.05  # weight of this batch in the moving average of batch sizes


def thresholds(manifest: Manifest, batch: int) -> tuple[int, int]:
    """(t1, t2) for merging a batch of ``batch`` records into the index ``manifest`` describes
    (see the module's docstring): pure, so every sequencer computes the same ones."""
    per_shard = batch / SHARDS
    held = sum(r.records for shard in manifest.levels for r in shard if r)
    # b̂ as the last manifest left it; an empty index starts from this batch.
    before = manifest.t1 * manifest.t1 / manifest.t2 if held and manifest.t2 else per_shard
    b = max(1.0, before + _SMOOTHING * (per_shard - before))
    n = (held + batch) / SHARDS
    r = max(2.0, (n / b) ** (1 / 3))
    return max(1, round(b * r)), max(2, round(b * r * r))


def replay_counts(batch_records: int, batches: int, fixed: bool = False,
                  ) -> Iterator[tuple[list[list[int]], int, int, int]]:
    """The index's merge decisions (``thresholds``, ``shard_thresholds``, ``merge_target``)
    replayed on record counts alone, for cost models (bench/index.py, bench/scale.py):
    batches of ``batch_records``, each shard receiving an equal share (keys are uniform
    hashes). After each batch: (records per level of each shard, t1, t2, bytes written).
    ``fixed``: the fixed thresholds of the first versions, the same for every shard."""
    per_shard = round(batch_records / SHARDS)
    counts = [[0, 0, 0] for _ in range(SHARDS)]
    manifest = empty_manifest()
    for b in range(1, batches + 1):
        t1, t2 = (T1, T2) if fixed else thresholds(manifest, per_shard * SHARDS)
        written = 0
        for shard, c in enumerate(counts):
            limits = (t1, t2) if fixed else shard_thresholds(t1, t2, shard)
            target = merge_target(c, per_shard, *limits)
            c[target] = per_shard + sum(c[: target + 1])
            for level in range(target):
                c[level] = 0
            written += c[target] * RECORD_SIZE
        manifest = Manifest(b, tuple(tuple(LevelRef("m", n) if n else None for n in c)
                                          for c in counts), t1, t2)
        yield [list(c) for c in counts], t1, t2, written


def _find(data: Buffer, key: bytes) -> tuple[int, int]:
    """[first, end) record positions of ``key`` in sorted records."""
    n = len(data) // RECORD_SIZE
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if data[mid * RECORD_SIZE : mid * RECORD_SIZE + 32] < key:
            lo = mid + 1
        else:
            hi = mid
    end = lo
    while end < n and data[end * RECORD_SIZE : end * RECORD_SIZE + 32] == key:
        end += 1
    return lo, end


def _indexes(data: bytes, first: int, end: int) -> list[int]:
    return [int.from_bytes(data[i * 40 + 32 : i * 40 + 40], "big") for i in range(first, end)]


@dataclass(frozen=True)
class LevelView:
    """A level object held for many lookups: its records (bytes, or an ``mmap`` of a local
    copy, so a lookup touches only the pages its search visits) and the 8-byte prefix of
    every ``stride``-th record, kept in memory (at most ~4,096 per object). A small level
    (an L1, rewritten every batch) also keeps the set of its keys: one hash probe per lookup."""

    data: Buffer
    prefixes: list[bytes] | None  # None: the manifest's fence keys serve instead
    stride: int
    keys: frozenset[bytes] | None = None


_SET_LEVEL = 8192  # records up to which a level's keys are also held as a set


def level_view(data: Buffer, *, fenced: bool = False) -> LevelView:
    """Index ``data`` (whole records) for repeated lookups. ``fenced``: a large level keeps no
    prefixes of its own, and lookups use the fence keys its manifest entry carries, so that
    making the view reads none of it (4,096 scattered pages of each level, at every start of
    a sequencer whose page cache does not hold the index, were most of what a batch read
    from the disk at 10^7 entries)."""
    n = len(data) // RECORD_SIZE
    if fenced and n > _SET_LEVEL:
        return LevelView(data, None, 0)
    stride = max(16, -(-n // 4096))
    prefixes = [data[j * RECORD_SIZE : j * RECORD_SIZE + 8] for j in range(0, n, stride)]
    keys = None
    if n <= _SET_LEVEL:
        keys = frozenset([data[p : p + 32] for p in range(0, n * RECORD_SIZE, RECORD_SIZE)])
    return LevelView(data, prefixes, stride, keys)


def lookup_many(
    manifest: Manifest, keys: Sequence[bytes], view: Callable[[str], LevelView | bytes]
) -> dict[bytes, list[int]]:
    """All indexes of many keys (the sequencer's dedup). ``view`` gives each level object,
    best as a ``LevelView`` kept from one call to the next: a search then starts from its
    prefixes (or the manifest's fence keys) and reads a few dozen records around the key's
    interpolated place (``_narrow``), or probes a small level's key set."""
    out: dict[bytes, list[int]] = {}
    by_shard: dict[int, list[bytes]] = {}
    for k in keys:
        by_shard.setdefault(k[0] >> 4, []).append(k)
    for shard, ks in by_shard.items():
        for ref in manifest.levels[shard]:
            if ref is None or ref.records == 0:
                continue
            v = view(ref.path)
            lv = v if isinstance(v, LevelView) else level_view(v)
            if lv.prefixes is None and not ref.fences:  # an old manifest: no fences
                lv = level_view(lv.data)
            data, prefixes, stride = lv.data, lv.prefixes, lv.stride
            if prefixes is None:
                prefixes, stride = _fence_list(ref), ref.stride
            n, find = len(data) // RECORD_SIZE, data.find
            if lv.keys is not None:
                hits = [k for k in ks if k in lv.keys]
            else:  # most keys are new: a byte search of the few records around the key
                hits, windows = [], {}  # rules them out
                for k in ks:
                    lo, hi = windows[k] = _narrow(data, k, prefixes, stride, n)
                    if find(k, lo * RECORD_SIZE, hi * RECORD_SIZE) >= 0:
                        hits.append(k)  # maybe: the exact scan below decides
            for k in hits:
                first = _scan(data, k, *(windows[k] if lv.keys is None else
                                         _fenced(prefixes, stride, n, k)))
                if first >= 0:
                    end = first + 1
                    while end < n and data[end * RECORD_SIZE : end * RECORD_SIZE + 32] == k:
                        end += 1
                    out.setdefault(k, []).extend(_indexes(data, first, end))
    return {k: sorted(set(v)) for k, v in out.items()}


def _scan(data: Buffer, key: bytes, lo: int, hi: int) -> int:
    """The first record in [lo, hi) whose key is ``key``, or -1: a byte search (C speed)
    over the few records the fences leave, keeping only matches at a record's start."""
    start, end = lo * RECORD_SIZE, hi * RECORD_SIZE
    at = data.find(key, start, end)
    while at >= 0 and (at - start) % RECORD_SIZE:
        at = data.find(key, at + 1, end)
    return -1 if at < 0 else at // RECORD_SIZE


def _narrow(data: Buffer, key: bytes, prefixes: list[bytes], stride: int, n: int,
            ) -> tuple[int, int]:
    """[lo, hi) of the records that can hold ``key``, a few dozen wide: the fenced window,
    then the key's place in it interpolated from the fences (keys are uniform hashes, so it
    is off by about √stride) and widened until the records at both ends bracket the key. A
    lookup so touches two or three pages of a level however large it grows; the whole
    window (``stride`` records, n/4,096) grew with the level."""
    lo, hi = _fenced(prefixes, stride, n, key)
    if hi - lo <= 64:
        return lo, hi
    low = int.from_bytes(prefixes[lo // stride], "big")
    high = int.from_bytes(prefixes[hi // stride], "big") if hi < n else 1 << 64
    guess = lo + (int.from_bytes(key[:8], "big") - low) * (hi - lo) // max(1, high - low)
    guess = min(max(guess, lo), hi - 1)
    a, b, step = max(lo, guess - 16), min(hi, guess + 16), 32
    while a > lo and data[a * RECORD_SIZE : a * RECORD_SIZE + 32] >= key:
        a, step = max(lo, a - step), 2 * step  # every record from a on is >= key: go lower
    step = 32
    while b < hi and data[(b - 1) * RECORD_SIZE : (b - 1) * RECORD_SIZE + 32] <= key:
        b, step = min(hi, b + step), 2 * step  # every record before b is <= key: go higher
    return a, b


def _fence_list(ref: LevelRef) -> list[bytes]:
    f = ref.fences
    return [f[i : i + 8] for i in range(0, len(f), 8)]


def _fenced(prefixes: list[bytes], stride: int, n: int, key: bytes) -> tuple[int, int]:
    """[lo, hi) of the ``n`` records that can hold ``key``, given the prefix of every
    ``stride``-th record: records whose prefix equals the key's lie between the last fence
    below it and the first fence above it."""
    p = key[:8]
    lo = bisect.bisect_left(prefixes, p)
    hi = bisect.bisect_right(prefixes, p) * stride
    return (lo - 1) * stride if lo else 0, hi if hi < n else n


def lookup(
    manifest: Manifest, key: bytes, read_range: Callable[[str, int, int], bytes]
) -> list[int]:
    """All indexes of one key (clients): each level by one range read of the block its fence
    keys leave (manifests without fences: L1 whole, L2/L3 by interpolated range reads)."""
    if len(key) != 32:
        raise MalformedError("lookup key must be 32 bytes", field="key")
    found: list[int] = []
    for level, ref in enumerate(manifest.levels[key[0] >> 4]):
        if ref is None or ref.records == 0:
            continue
        if level == 0 and not ref.fences:
            data = read_range(ref.path, 0, ref.records * RECORD_SIZE)
            first, end = _find(data, key)
            found += _indexes(data, first, end)
        else:
            found += _ranged(ref, key, read_range)
    return sorted(set(found))


def _ranged(ref: LevelRef, key: bytes, read_range: Callable[[str, int, int], bytes]) -> list[int]:
    if ref.fences:  # one exact read, however skewed the keys are
        lo, hi = _fenced(_fence_list(ref), ref.stride, ref.records, key)
        data = read_range(ref.path, lo * RECORD_SIZE, hi * RECORD_SIZE)
        first, end = _find(data, key)
        return _indexes(data, first, end)
    n = ref.records
    frac = (int.from_bytes(key[:8], "big") & ((1 << 60) - 1)) / float(1 << 60)
    width = max(64, int(7 * math.sqrt(n) / 2))
    lo = max(0, int(frac * n) - width)
    hi = min(n, int(frac * n) + width)
    while True:
        data = read_range(ref.path, lo * RECORD_SIZE, hi * RECORD_SIZE)
        count = len(data) // RECORD_SIZE
        first_key = data[:32]
        last_key = data[(count - 1) * 40 : (count - 1) * 40 + 32] if count else b""
        if lo > 0 and (not count or first_key >= key):
            lo = max(0, lo - 2 * width)
            width *= 2
            continue
        if hi < n and (not count or last_key <= key):
            hi = min(n, hi + 2 * width)
            width *= 2
            continue
        first, end = _find(data, key)
        return _indexes(data, first, end)
