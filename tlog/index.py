"""The static lookup index: 32-byte keys → log indexes, as immutable files beside the tiles.

Serves the sequencer's exact deduplication (leaf hash → index) and clients' search by artifact
digest or key fingerprint. A leaf hash is its own key; a search key string (``sha256:<hex>``,
``key:<hex>``) is keyed by ``sha256(string)``, so every key is a uniform 32-byte value.

Layout: records are ``key prefix (8) ‖ index (40-bit BE)``, 13 bytes, sorted, no framing. Keys
fall in 16 shards by their first nibble; each shard has up to three levels, each one immutable
object ``index/<level>/<shard>/<generation>`` (generation = the tree size when it was written).
``index/manifest/<size>`` (JSON, immutable, one per committed tree size) names them, and says
each object's record size.

A record keeps 8 bytes of its key, so a lookup returns *candidates*: the entries whose key
shares those 64 bits. Each reader checks a candidate against the entry it names (which it
must anyway: the index is untrusted), and tells a prefix collision (the entry carries a key
with the asked prefix: n/2^64 per lookup among n records by chance, 2^64 hashes to make one
for a chosen key) from a lie (it carries none). Whole keys made records 40 bytes
(``WIDE_RECORD``: manifest version 1, whose objects are still read, and rewritten short when
a merge reaches them); short records write 13/40 of the bytes, which is what brings the
write cost within twice the bundles' bytes at 10^7 entries (``bench/index.py --model``).
Indexes are 40 bits: logs of up to 2^40 entries.

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
  key: 4 GETs, about 2·max(512, n/(16·512))·13 bytes per level (older manifests without fences
  fall back to L1 whole and interpolation around the key's expected position).
- written per batch: ≤ 17 objects; on average about 3·r/2 · b · 13 bytes (``bench/index.py
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from tlog.errors import ConfigError, MalformedError

__all__ = [
    "KEY_PREFIX",
    "RECORD_SIZE",
    "SHARDS",
    "WIDE_RECORD",
    "IndexUpdate",
    "LevelRef",
    "LevelView",
    "Manifest",
    "decode_records",
    "empty_manifest",
    "encode_record",
    "format_manifest",
    "index_paths",
    "leaf_key",
    "level_ref",
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
    "same_prefix",
    "search_key",
    "shard_thresholds",
    "thresholds",
    "update_index",
]

Buffer = bytes | mmap.mmap  # what lookups read level objects as
KEY_PREFIX = 8  # bytes of its key a record keeps
INDEX_BYTES = 5
RECORD_SIZE = KEY_PREFIX + INDEX_BYTES
MAX_INDEX = 1 << (8 * INDEX_BYTES)
WIDE_RECORD = 40  # manifest version 1: the whole key and a 64-bit index
SHARDS = 16
LEVELS = 3
T1 = 4096
T2 = 131072
_MANIFEST_PREFIX = "index/manifest/"


def _key_len(record: int) -> int:
    """Bytes of the key a record of ``record`` bytes holds."""
    return 32 if record == WIDE_RECORD else KEY_PREFIX


@dataclass(frozen=True)
class LevelRef:
    """One level object of one shard; ``fences`` holds the 8-byte key prefix of every
    ``stride``-th record, so a lookup knows exactly which records to read; ``record`` is its
    record size (``WIDE_RECORD`` for an object of a version-1 manifest)."""

    path: str
    records: int
    fences: bytes = b""
    stride: int = 0
    record: int = RECORD_SIZE


MAX_FENCES = 512  # per level object: the manifest stays ~130 KB at 10^7 entries, blocks ~50 KB


def level_ref(path: str, data: bytes) -> LevelRef:
    """The manifest entry of a level object (short records), with its fence keys."""
    rs = RECORD_SIZE
    n = len(data) // rs
    stride = max(512, -(-n // MAX_FENCES))
    fences = b"".join(data[j * rs : j * rs + 8] for j in range(0, n, stride))
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


def same_prefix(key: bytes, other: bytes) -> bool:
    """Whether two keys share what a record keeps of them: an entry whose key is ``other``
    is a fair candidate for ``key`` (a prefix collision), not a sign of a lying index."""
    return key[:KEY_PREFIX] == other[:KEY_PREFIX]


def encode_record(key: bytes, index: int) -> bytes:
    """The record of a 32-byte key at a log index."""
    if len(key) != 32 or not 0 <= index < MAX_INDEX:
        raise MalformedError("index records need a 32-byte key and an index below 2^40")
    return key[:KEY_PREFIX] + index.to_bytes(INDEX_BYTES, "big")


def manifest_path(size: int) -> str:
    return f"{_MANIFEST_PREFIX}{size}"


def empty_manifest(size: int = 0) -> Manifest:
    return Manifest(size, tuple((None,) * LEVELS for _ in range(SHARDS)))


def decode_records(data: bytes, record: int = RECORD_SIZE) -> list[tuple[bytes, int]]:
    """(key bytes kept, index) of each record of a level object of ``record``-byte records."""
    if record not in (RECORD_SIZE, WIDE_RECORD) or len(data) % record:
        raise MalformedError(f"index object of {len(data)} bytes is not whole records")
    k = _key_len(record)
    return [(bytes(data[p : p + k]), int.from_bytes(data[p + k : p + record], "big"))
            for p in range(0, len(data), record)]


def _short(data: Buffer, record: int) -> Buffer:
    """A level object's records in the short form: itself, or a version-1 object's records cut
    to 13 bytes (once per object, when a merge first reaches it). Cutting keys can reorder
    records whose keys share a prefix, so such runs (only colliding keys make them) are
    re-sorted."""
    if record == RECORD_SIZE:
        return data
    if len(data) % WIDE_RECORD:
        raise MalformedError(f"index object of {len(data)} bytes is not whole 40-byte records")
    n = len(data) // WIDE_RECORD
    out = bytearray()
    run: list[bytes] = []
    for p in range(0, n * WIDE_RECORD, WIDE_RECORD):
        if data[p + 32 : p + 35] != b"\0\0\0":
            raise MalformedError("an index record names an index beyond 2^40")
        rec = bytes(data[p : p + KEY_PREFIX]) + bytes(data[p + 35 : p + 40])
        if run and rec[:KEY_PREFIX] != run[0][:KEY_PREFIX]:
            out += b"".join(sorted(run))
            run = []
        run.append(rec)
    out += b"".join(sorted(run))
    return bytes(out)


def format_manifest(m: Manifest) -> bytes:
    """The manifest as published: per shard and level its path, record count, record size and
    fence keys. Version 2 names them ``levels`` where version 1 (no record sizes, every record
    40 bytes) said ``shards``, so that a reader of version 1 that ignores the version finds no
    index rather than misreading 13-byte records as 40-byte ones."""
    shards = [[None if r is None else _ref_json(r) for r in s] for s in m.levels]
    doc = {"version": 2, "size": m.size, "t1": m.t1, "t2": m.t2, "levels": shards}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _ref_json(r: LevelRef) -> dict[str, object]:
    out: dict[str, object] = {"path": r.path, "records": r.records, "record": r.record}
    if r.fences:
        out["fences"], out["stride"] = base64.b64encode(r.fences).decode(), r.stride
    return out


def parse_manifest(data: bytes) -> Manifest:
    try:
        doc = json.loads(data)
        version = doc["version"]
        if type(version) is int and version > 2:
            raise ConfigError(f"index manifest version {version} is newer than this tiledlog "
                              "reads (1 and 2): upgrade tiledlog")
        if type(version) is not int or version not in (1, 2):
            raise MalformedError("unsupported index manifest version")
        by_shard = doc["shards"] if version == 1 else doc["levels"]
        if len(by_shard) != SHARDS:
            raise MalformedError(f"index manifest must have {SHARDS} shards")
        levels = []
        for shard in by_shard:
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
                record = r["record"] if version == 2 else WIDE_RECORD
                if type(record) is not int or record not in (RECORD_SIZE, WIDE_RECORD):
                    raise MalformedError(f"unsupported index record size {record!r}")
                refs.append(LevelRef(path, n, fences, stride, record))
            levels.append(tuple(refs))
        size, t1, t2 = doc["size"], doc["t1"], doc["t2"]
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (size, t1, t2)
        ):
            raise MalformedError("bad numbers in index manifest")
        return Manifest(size, tuple(levels), t1, t2)
    except (MalformedError, ConfigError):
        raise
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
        raise MalformedError(f"index manifest is malformed: {e}") from e
    except RecursionError as e:  # json.loads recurses once per nesting level
        raise MalformedError("index manifest is malformed: nested too deeply") from e


def index_paths(m: Manifest) -> list[str]:
    """Every object a manifest references."""
    return sorted(r.path for shard in m.levels for r in shard if r is not None)


def _chunks(data: Buffer) -> list[bytes]:
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
    encoded = [encode_record(key, idx) for key, idx in records]
    return merge_records(manifest, encoded, new_size, read, t1, t2)


def merge_records(
    manifest: Manifest,
    records: Iterable[bytes],
    new_size: int,
    read: Callable[[str], bytes],
    t1: int | None = None,
    t2: int | None = None,
) -> IndexUpdate:
    """``update_index`` for records already encoded (``encode_record``), in any order:
    checked, sorted, split by shard, then ``merge_shards``."""
    batch = sorted(set(records))  # a record twice: an entry naming one key (prefix) twice
    if batch and set(map(len, batch)) != {RECORD_SIZE}:
        raise MalformedError(f"index records must be {RECORD_SIZE} bytes (encode_record)")
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
    No record can be in the index already: each carries an index the tree did not have. The
    objects written hold short records, whatever the form of those merged into them."""
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
                merged += _chunks(_short(read(ref.path), ref.record))
        merged.sort()  # a few sorted runs: a linear merge
        for level in range(target):
            levels[shard][level] = None
        into = levels[shard][target]
        path = f"index/{target + 1}/{shard:x}/{new_size}"
        objects[path] = merge_into(_short(read(into.path), into.record) if into else b"", merged)
        levels[shard][target] = level_ref(path, objects[path])
    m = Manifest(new_size, tuple(tuple(s) for s in levels), t1, t2)
    return IndexUpdate(m, objects)


def merge_into(level: Buffer, records: Sequence[bytes]) -> bytes:
    """A sorted level object with sorted ``records`` (none of them in it) merged in: the
    level's runs between the places the records go (found by galloping from the last one)
    are joined as views into it, so memory holds the result once, never the level split into
    records (an L3 at 10^8 entries holds 19 million: as Python objects, four times its 250 MB) or
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


def _find(data: Buffer, key: bytes, rs: int = RECORD_SIZE) -> tuple[int, int]:
    """[first, end) positions of the records that keep ``key`` (its prefix, or all of it in
    wide records) among sorted records of ``rs`` bytes."""
    k = _key_len(rs)
    p, n = key[:k], len(data) // rs
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if data[mid * rs : mid * rs + k] < p:
            lo = mid + 1
        else:
            hi = mid
    end = lo
    while end < n and data[end * rs : end * rs + k] == p:
        end += 1
    return lo, end


def _indexes(data: Buffer, first: int, end: int, rs: int = RECORD_SIZE) -> list[int]:
    k = _key_len(rs)
    return [int.from_bytes(data[i * rs + k : (i + 1) * rs], "big") for i in range(first, end)]


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
    record: int = RECORD_SIZE


_SET_LEVEL = 8192  # records up to which a level's keys are also held as a set


def level_view(data: Buffer, record: int = RECORD_SIZE, *, fenced: bool = False) -> LevelView:
    """Index ``data`` (whole records of ``record`` bytes) for repeated lookups. ``fenced``: a
    large level keeps no prefixes of its own, and lookups use the fence keys its manifest
    entry carries, so that making the view reads none of it (4,096 scattered pages of each
    level, at every start of a sequencer whose page cache does not hold the index, were most
    of what a batch read from the disk at 10^7 entries)."""
    rs, k = record, _key_len(record)
    n = len(data) // rs
    if fenced and n > _SET_LEVEL:
        return LevelView(data, None, 0, None, rs)
    stride = max(16, -(-n // 4096))
    prefixes = [data[j * rs : j * rs + 8] for j in range(0, n, stride)]
    keys = None
    if n <= _SET_LEVEL:
        keys = frozenset([data[p : p + k] for p in range(0, n * rs, rs)])
    return LevelView(data, prefixes, stride, keys, rs)


def lookup_many(
    manifest: Manifest, keys: Sequence[bytes], view: Callable[[LevelRef], LevelView | Buffer]
) -> dict[bytes, list[int]]:
    """The candidate indexes of many keys (the sequencer's dedup): those of the records that
    keep each key's prefix. ``view`` gives each level object, best as a ``LevelView`` kept
    from one call to the next: a search then starts from its prefixes (or the manifest's
    fence keys) and reads a few dozen records around the key's interpolated place
    (``_narrow``), or probes a small level's key set."""
    out: dict[bytes, list[int]] = {}
    by_shard: dict[int, list[bytes]] = {}
    for k in keys:
        by_shard.setdefault(k[0] >> 4, []).append(k)
    for shard, ks in by_shard.items():
        for ref in manifest.levels[shard]:
            if ref is None or ref.records == 0:
                continue
            v = view(ref)
            lv = v if isinstance(v, LevelView) else level_view(v, ref.record)
            if lv.record != ref.record or (lv.prefixes is None and not ref.fences):
                lv = level_view(lv.data, ref.record)  # an old manifest: no fences
            data, prefixes, stride = lv.data, lv.prefixes, lv.stride
            if prefixes is None:
                prefixes, stride = _fence_list(ref), ref.stride
            rs, kl = ref.record, _key_len(ref.record)
            n, find = len(data) // rs, data.find
            if lv.keys is not None:
                hits = [k for k in ks if k[:kl] in lv.keys]
            else:  # most keys are new: a byte search of the few records around the key
                hits, windows = [], {}  # rules them out
                for k in ks:
                    lo, hi = windows[k] = _narrow(data, k, prefixes, stride, n, rs)
                    if find(k[:kl], lo * rs, hi * rs) >= 0:
                        hits.append(k)  # maybe: the exact scan below decides
            for k in hits:
                p = k[:kl]
                first = _scan(data, p, *(windows[k] if lv.keys is None else
                                         _fenced(prefixes, stride, n, k)), rs)
                if first >= 0:
                    end = first + 1
                    while end < n and data[end * rs : end * rs + kl] == p:
                        end += 1
                    out.setdefault(k, []).extend(_indexes(data, first, end, rs))
    return {k: sorted(set(v)) for k, v in out.items()}


def _scan(data: Buffer, p: bytes, lo: int, hi: int, rs: int) -> int:
    """The first record in [lo, hi) that starts with ``p``, or -1: a byte search (C speed)
    over the few records the fences leave, keeping only matches at a record's start."""
    start, end = lo * rs, hi * rs
    at = data.find(p, start, end)
    while at >= 0 and (at - start) % rs:
        at = data.find(p, at + 1, end)
    return -1 if at < 0 else at // rs


def _narrow(data: Buffer, key: bytes, prefixes: list[bytes], stride: int, n: int,
            rs: int = RECORD_SIZE) -> tuple[int, int]:
    """[lo, hi) of the records that can hold ``key``, a few dozen wide: the fenced window,
    then the key's place in it interpolated from the fences (keys are uniform hashes, so it
    is off by about √stride) and widened until the records at both ends bracket the key. A
    lookup so touches two or three pages of a level however large it grows; the whole
    window (``stride`` records, n/4,096) grew with the level."""
    lo, hi = _fenced(prefixes, stride, n, key)
    if hi - lo <= 64:
        return lo, hi
    kl = _key_len(rs)
    p = key[:kl]
    low = int.from_bytes(prefixes[lo // stride], "big")
    high = int.from_bytes(prefixes[hi // stride], "big") if hi < n else 1 << 64
    guess = lo + (int.from_bytes(key[:8], "big") - low) * (hi - lo) // max(1, high - low)
    guess = min(max(guess, lo), hi - 1)
    a, b, step = max(lo, guess - 16), min(hi, guess + 16), 32
    while a > lo and data[a * rs : a * rs + kl] >= p:
        a, step = max(lo, a - step), 2 * step  # every record from a on is >= key: go lower
    step = 32
    while b < hi and data[(b - 1) * rs : (b - 1) * rs + kl] <= p:
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
    """The candidate indexes of one key (clients): those of the records that keep its prefix,
    for the caller to check against the entries. Each level by one range read of the block
    its fence keys leave (manifests without fences: L1 whole, L2/L3 by interpolated range
    reads)."""
    if len(key) != 32:
        raise MalformedError("lookup key must be 32 bytes", field="key")
    found: list[int] = []
    for level, ref in enumerate(manifest.levels[key[0] >> 4]):
        if ref is None or ref.records == 0:
            continue
        if level == 0 and not ref.fences:
            data = read_range(ref.path, 0, ref.records * ref.record)
            found += _indexes(data, *_find(data, key, ref.record), ref.record)
        else:
            found += _ranged(ref, key, read_range)
    return sorted(set(found))


def _ranged(ref: LevelRef, key: bytes, read_range: Callable[[str, int, int], bytes]) -> list[int]:
    rs, kl = ref.record, _key_len(ref.record)
    if ref.fences:  # one exact read, however skewed the keys are
        lo, hi = _fenced(_fence_list(ref), ref.stride, ref.records, key)
        data = read_range(ref.path, lo * rs, hi * rs)
        return _indexes(data, *_find(data, key, rs), rs)
    n, p = ref.records, key[:kl]
    frac = (int.from_bytes(key[:8], "big") & ((1 << 60) - 1)) / float(1 << 60)
    width = max(64, int(7 * math.sqrt(n) / 2))
    lo = max(0, int(frac * n) - width)
    hi = min(n, int(frac * n) + width)
    while True:
        data = read_range(ref.path, lo * rs, hi * rs)
        count = len(data) // rs
        first_key = data[:kl]
        last_key = data[(count - 1) * rs : (count - 1) * rs + kl] if count else b""
        if lo > 0 and (not count or first_key >= p):
            lo = max(0, lo - 2 * width)
            width *= 2
            continue
        if hi < n and (not count or last_key <= p):
            hi = min(n, hi + 2 * width)
            width *= 2
            continue
        return _indexes(data, *_find(data, key, rs), rs)
