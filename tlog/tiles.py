"""C2SP tlog-tiles: tile coordinates and paths, codecs, and an authenticating tile reader.

https://c2sp.org/tlog-tiles. Tiles are height 8: a full tile holds 256 hashes (8192 bytes).
Example: level 0, tile 1234067, 8 hashes wide is ``tile/0/x001/x234/067.p/8``; the entry bundle
for the same leaves is ``tile/entries/x001/x234/067.p/8``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass

from tlog.errors import MalformedError, VerificationError
from tlog.merkle import HASH_SIZE, Node, fold_right, perfect_root, subtree_nodes

__all__ = [
    "ENTRIES",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Tile",
    "TileHashReader",
    "bundles_for_size",
    "decode_entry_bundle",
    "decode_hash_tile",
    "encode_entry_bundle",
    "encode_hash_tile",
    "new_bundles",
    "new_tiles",
    "parse_tile_path",
    "tile_for_node",
    "tile_path",
    "tiles_for_size",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
ENTRIES = -1
MAX_LEVEL = 63


@dataclass(frozen=True, order=True)
class Tile:
    """A hash tile (level ≥ 0) or an entry bundle (level ``ENTRIES``), ``width`` hashes wide."""

    level: int
    n: int
    width: int = TILE_WIDTH

    @property
    def path(self) -> str:
        return tile_path(self.level, self.n, self.width)

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def is_entries(self) -> bool:
        return self.level == ENTRIES


def _fmt_index(n: int) -> str:
    s = f"{n % 1000:03d}"
    n //= 1000
    while n:
        s = f"x{n % 1000:03d}/{s}"
        n //= 1000
    return s


def tile_path(level: int, n: int, width: int = TILE_WIDTH) -> str:
    """The C2SP path of a tile: ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``."""
    if level != ENTRIES and not 0 <= level <= MAX_LEVEL:
        raise MalformedError(f"tile level {level} is not in 0..63", field="level")
    if n < 0 or not 1 <= width <= TILE_WIDTH:
        raise MalformedError(f"bad tile index {n} or width {width}", field="tile")
    p = "tile/{}/{}".format("entries" if level == ENTRIES else level, _fmt_index(n))
    return p if width == TILE_WIDTH else f"{p}.p/{width}"


_PATH = re.compile(
    r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> Tile:
    """Inverse of ``tile_path``; only the canonical form is accepted."""
    m = _PATH.fullmatch(path) if isinstance(path, str) else None
    if not m:
        raise MalformedError(f"not a tile path: {path!r}", field="path")
    level = ENTRIES if m[1] == "entries" else int(m[1])
    n = int(m[2].replace("x", "").replace("/", ""))
    width = int(m[3]) if m[3] else TILE_WIDTH
    if level > MAX_LEVEL or (width > 255 and m[3]) or width == 0:
        raise MalformedError(f"not a tile path: {path!r}", field="path")
    tile = Tile(level, n, width)
    if tile.path != path:
        raise MalformedError(f"not a canonical tile path: {path!r}", field="path")
    return tile


def _tiles_between(old: int, new: int, height: int = TILE_HEIGHT) -> list[tuple[int, int, int]]:
    out = []
    w = 1 << height
    level = 0
    while new >> (height * level):
        o, n = old >> (height * level), new >> (height * level)
        if o != n:
            for i in range(o >> height, n >> height):
                out.append((level, i, w))
            if n & (w - 1):
                out.append((level, n >> height, n & (w - 1)))
        level += 1
    return out


def new_tiles(old: int, new: int) -> list[Tile]:
    """The hash tiles to write when the tree grows from ``old`` to ``new`` (Go NewTiles)."""
    return [Tile(*t) for t in _tiles_between(old, new)]


def tiles_for_size(size: int) -> list[Tile]:
    """Every hash tile a tree of ``size`` leaves has."""
    return new_tiles(0, size)


def new_bundles(old: int, new: int) -> list[Tile]:
    """The entry bundles to write when the tree grows from ``old`` to ``new``."""
    return [Tile(ENTRIES, t.n, t.width) for t in new_tiles(old, new) if t.level == 0]


def bundles_for_size(size: int) -> list[Tile]:
    """Every entry bundle a tree of ``size`` leaves has."""
    return new_bundles(0, size)


def encode_hash_tile(hashes: Sequence[bytes]) -> bytes:
    """Concatenate 1..256 hashes."""
    if not 1 <= len(hashes) <= TILE_WIDTH or any(len(h) != HASH_SIZE for h in hashes):
        raise MalformedError("a hash tile holds 1 to 256 hashes of 32 bytes")
    return b"".join(hashes)


def decode_hash_tile(data: bytes, width: int) -> list[bytes]:
    """Split a tile of exactly ``width`` hashes."""
    if not 1 <= width <= TILE_WIDTH or len(data) != HASH_SIZE * width:
        raise MalformedError(
            f"hash tile of width {width} must be {32 * width} bytes, got {len(data)}", field="tile"
        )
    return [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)]


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """uint16 big-endian length ‖ entry, for each entry."""
    if entries and max(map(len, entries)) > 0xFFFF:
        big = max(map(len, entries))
        raise MalformedError(f"entry of {big} bytes exceeds 65535", field="entry")
    return b"".join([len(e).to_bytes(2, "big") + e for e in entries])


def decode_entry_bundle(data: bytes, width: int) -> list[bytes]:
    """Parse exactly ``width`` length-prefixed entries, nothing trailing."""
    out, pos = [], 0
    for _ in range(width):
        if pos + 2 > len(data):
            raise MalformedError(f"entry bundle ends before entry {len(out)}", field="bundle")
        size = (data[pos] << 8) | data[pos + 1]
        if pos + 2 + size > len(data):
            raise MalformedError(f"entry {len(out)} is truncated", field="bundle")
        out.append(bytes(data[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    if pos != len(data):
        raise MalformedError(f"entry bundle has bytes after {width} entries", field="bundle")
    return out


def tile_for_node(node: Node, size: int) -> tuple[Tile, int, int]:
    """The tile holding perfect node ``node`` of a tree of ``size``: (tile, first hash, count)."""
    height, index = node
    level, r = divmod(height, TILE_HEIGHT)
    first = index << r
    n, offset = divmod(first, TILE_WIDTH)
    count = size >> (TILE_HEIGHT * level)
    width = TILE_WIDTH if n < count >> TILE_HEIGHT else count & (TILE_WIDTH - 1)
    if (index + 1) << height > size or width == 0:
        raise MalformedError(f"node {tuple(node)} is not in a tree of size {size}", field="node")
    return Tile(level, n, width), offset, 1 << r


class TileHashReader:
    """Reads node hashes of a verified tree (size, root) from untrusted tiles.

    ``fetch(tiles)`` returns each tile's bytes: exactly ``32·width``, or a full tile where a
    partial one was asked. Every tile is authenticated before any of its hashes is used: the
    tiles under the root's perfect subtrees against the root itself, every other tile against
    its parent tile's hash, walking up. Authenticated tiles are kept in ``verified``.
    """

    def __init__(
        self,
        size: int,
        root: bytes,
        fetch: Callable[[Sequence[Tile]], list[bytes]],
        verified: MutableMapping[Tile, bytes] | None = None,
    ) -> None:
        self.size, self.root, self._fetch = size, root, fetch
        self.verified: MutableMapping[Tile, bytes] = {} if verified is None else verified
        self._memo: dict[tuple[Tile, int, int], bytes] = {}

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        places = [tile_for_node(Node(*n), self.size) for n in nodes]
        self._authenticate({t for t, _, _ in places})
        out = []
        for place in places:
            h = self._memo.get(place)
            if h is None:
                tile, offset, count = place
                data = self.verified[tile]
                hashes = [data[32 * i : 32 * i + 32] for i in range(offset, offset + count)]
                h = hashes[0] if count == 1 else perfect_root(hashes)
                if len(self._memo) > 65536:
                    self._memo.clear()
                self._memo[place] = h
            out.append(h)
        return out

    def read_leaves(self, lo: int, hi: int) -> list[bytes]:
        """The leaf hashes ``lo`` to ``hi`` - 1, sliced from their authenticated level-0 tiles
        (``read_hashes`` of each leaf gives the same, one tile lookup per leaf slower)."""
        if not 0 <= lo <= hi <= self.size:
            raise MalformedError(f"leaves {lo}-{hi} are not in a tree of size {self.size}",
                                 field="node")
        if lo == hi:
            return []
        tiles = [tile_for_node(Node(0, n * TILE_WIDTH), self.size)[0]
                 for n in range(lo // TILE_WIDTH, (hi - 1) // TILE_WIDTH + 1)]
        self._authenticate(set(tiles))
        out: list[bytes] = []
        for t in tiles:
            data, base = self.verified[t], t.n * TILE_WIDTH
            a, b = max(lo, base) - base, min(hi, base + t.width) - base
            out += [data[32 * i : 32 * i + 32] for i in range(a, b)]
        return out

    def _get(self, tiles: Sequence[Tile]) -> dict[Tile, bytes]:
        got = self._fetch(list(tiles))
        if len(got) != len(tiles):
            raise VerificationError("tile fetch returned the wrong number of tiles")
        out = {}
        for t, data in zip(tiles, got, strict=True):
            if len(data) == HASH_SIZE * TILE_WIDTH and not t.is_full:
                data = data[: HASH_SIZE * t.width]
            if len(data) != HASH_SIZE * t.width:
                raise VerificationError(f"{t.path}: {len(data)} bytes, expected {32 * t.width}")
            out[t] = bytes(data)
        return out

    def _authenticate(self, wanted: set[Tile]) -> None:
        todo = {t for t in wanted if t not in self.verified}
        if not todo:
            return
        # The tiles that hold the root's own subtrees, plus every ancestor of the wanted ones,
        # up to an authenticated tile or the top of the tree.
        top = self._root_tiles()
        need: set[Tile] = set(todo)
        for t in list(todo):
            p = t
            while p not in top and p not in self.verified:
                p = self._parent(p)
                need.add(p)
        need |= {t for t in top if t not in self.verified}
        fetched = self._get(sorted(t for t in need if t not in self.verified))
        # Check the root's subtrees first, then children against parents, top down.
        nodes = subtree_nodes(0, self.size)
        top_hashes = []
        for node in nodes:
            tile, offset, count = tile_for_node(node, self.size)
            data = self.verified.get(tile) or fetched[tile]
            hs = [data[32 * i : 32 * i + 32] for i in range(offset, offset + count)]
            top_hashes.append(hs[0] if count == 1 else perfect_root(hs))
        if fold_right(top_hashes) != self.root:
            raise VerificationError("tiles on the right edge do not hash to the checkpoint root")
        for t in top:
            if t in fetched:
                self.verified[t] = fetched[t]
        for t in sorted(fetched, key=lambda t: -t.level):
            if t in self.verified:
                continue
            self._check_child(t, fetched[t], fetched)
            self.verified[t] = fetched[t]

    def _root_tiles(self) -> set[Tile]:
        return {tile_for_node(n, self.size)[0] for n in subtree_nodes(0, self.size)}

    def _parent(self, t: Tile) -> Tile:
        n, _ = divmod(t.n, TILE_WIDTH)
        count = self.size >> (TILE_HEIGHT * (t.level + 1))
        width = TILE_WIDTH if n < count >> TILE_HEIGHT else count & (TILE_WIDTH - 1)
        if t.width != TILE_WIDTH or width == 0:
            raise VerificationError(f"{t.path}: partial tile is not under the root's subtrees")
        return Tile(t.level + 1, n, width)

    def _check_child(self, t: Tile, data: bytes, fetched: dict[Tile, bytes]) -> None:
        parent = self._parent(t)
        pdata = self.verified.get(parent)
        if pdata is None:
            raise VerificationError(f"{t.path}: parent tile {parent.path} is not authenticated")
        i = t.n % TILE_WIDTH
        hashes = [data[j : j + 32] for j in range(0, len(data), 32)]
        if perfect_root(hashes) != pdata[32 * i : 32 * i + 32]:
            raise VerificationError(f"{t.path}: tile does not match its parent tile's hash")
