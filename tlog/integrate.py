"""Incremental integration: from a tree's right edge and new leaf hashes to new tiles and root.

The right edge of a tree of size N is its partial hash tile at each level (``edge_tiles(N)``);
with them alone the sequencer can append leaves without reading anything else of the log.
Example: growing 70000 → 70001 rewrites only ``tile/0/273.p/113``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tlog.errors import MalformedError
from tlog.merkle import EMPTY_ROOT, HASH_SIZE, fold_right, perfect_root
from tlog.tiles import (
    ENTRIES,
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    decode_entry_bundle,
    encode_entry_bundle,
)

__all__ = ["Integration", "edge_root", "edge_tiles", "integrate", "integrate_bundles"]

_sha256 = hashlib.sha256


@dataclass(frozen=True)
class Integration:
    """The result of appending leaves: new size, new root, every new or changed tile."""

    size: int
    root: bytes
    tiles: dict[Tile, bytes]


def edge_tiles(size: int) -> list[Tile]:
    """The partial hash tiles of a tree of ``size`` leaves, level 0 first."""
    out, level = [], 0
    while size >> (TILE_HEIGHT * level):
        w = (size >> (TILE_HEIGHT * level)) & (TILE_WIDTH - 1)
        if w:
            out.append(Tile(level, size >> (TILE_HEIGHT * (level + 1)), w))
        level += 1
    return out


def _edge_levels(size: int, edge: Mapping[Tile, bytes]) -> list[list[bytes]]:
    levels: list[list[bytes]] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        w = (size >> (TILE_HEIGHT * level)) & (TILE_WIDTH - 1)
        hashes: list[bytes] = []
        if w:
            t = Tile(level, size >> (TILE_HEIGHT * (level + 1)), w)
            data = edge.get(t)
            if data is None or len(data) < HASH_SIZE * w:
                raise MalformedError(f"right edge tile {t.path} missing or short", field="edge")
            hashes = [bytes(data[i : i + HASH_SIZE]) for i in range(0, HASH_SIZE * w, HASH_SIZE)]
        levels.append(hashes)
        level += 1
    return levels


def _root(levels: list[list[bytes]]) -> bytes:
    parts: list[bytes] = []
    for hashes in reversed(levels):
        n, start = len(hashes), 0
        for bit in range(TILE_HEIGHT - 1, -1, -1):
            if n >> bit & 1:
                chunk = hashes[start : start + (1 << bit)]
                parts.append(chunk[0] if bit == 0 else perfect_root(chunk))
                start += 1 << bit
    return fold_right(parts) if parts else EMPTY_ROOT


def edge_root(size: int, edge: Mapping[Tile, bytes]) -> bytes:
    """The root of a tree of ``size`` leaves, from its right edge alone."""
    return _root(_edge_levels(size, edge))


def _tile_hash(hashes: list[bytes]) -> bytes:
    level = hashes
    while len(level) > 1:
        it = iter(level)
        level = [_sha256(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=True)]
    return level[0]


def integrate(size: int, edge: Mapping[Tile, bytes], leaf_hashes: Sequence[bytes]) -> Integration:
    """Append ``leaf_hashes`` to the tree of ``size`` whose right edge is ``edge``."""
    levels = _edge_levels(size, edge)
    tiles: dict[Tile, bytes] = {}
    starts: list[int] = []  # absolute index of the first hash in each level's working list
    for lvl in range(len(levels)):
        starts.append((size >> (TILE_HEIGHT * lvl)) & ~(TILE_WIDTH - 1))
    incoming: list[bytes] = list(leaf_hashes)
    for h in incoming:
        if len(h) != HASH_SIZE:
            raise MalformedError("leaf hashes must be 32 bytes", field="leaf_hashes")
    level = 0
    touched: set[int] = set()
    while incoming:
        if level == len(levels):
            levels.append([])
            starts.append(0)
        cur = levels[level]
        cur.extend(incoming)
        touched.add(level)
        incoming = []
        full = len(cur) // TILE_WIDTH
        for k in range(full):
            chunk = cur[k * TILE_WIDTH : (k + 1) * TILE_WIDTH]
            tiles[Tile(level, (starts[level] >> TILE_HEIGHT) + k)] = b"".join(chunk)
            incoming.append(_tile_hash(chunk))
        if full:
            levels[level] = cur[full * TILE_WIDTH :]
            starts[level] += full * TILE_WIDTH
        level += 1
    for lvl in touched:
        rest = levels[lvl]
        if rest:
            tiles[Tile(lvl, starts[lvl] >> TILE_HEIGHT, len(rest))] = b"".join(rest)
    new_size = size + len(leaf_hashes)
    # Levels above the top touched one keep their (unchanged) partial hashes for the root.
    return Integration(new_size, _root(levels), tiles)


def integrate_bundles(
    size: int, partial: bytes | None, entries: Sequence[bytes]
) -> dict[Tile, bytes]:
    """The entry bundles to write when ``entries`` are appended to a tree of ``size``."""
    w = size % TILE_WIDTH
    current = decode_entry_bundle(partial or b"", w) if w else []
    n = size // TILE_WIDTH
    cur = current + list(entries)
    out: dict[Tile, bytes] = {}
    full = len(cur) // TILE_WIDTH
    for k in range(full):
        out[Tile(ENTRIES, n + k)] = encode_entry_bundle(cur[k * TILE_WIDTH : (k + 1) * TILE_WIDTH])
    rest = cur[full * TILE_WIDTH :]
    if rest and entries:
        out[Tile(ENTRIES, n + full, len(rest))] = encode_entry_bundle(rest)
    return out
