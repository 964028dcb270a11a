"""Tiles from an untrusted store, for the verifying client: fetched in parallel batches,
kept for the client's lifetime, a full tile standing in for a partial one that is gone.
Nothing here is authenticated: ``tlog.client.log`` checks what it computes from them
against a signed root, and uses ``Planner`` to learn which tiles a proof will read."""

from __future__ import annotations

from collections.abc import Sequence

from tlog.errors import MalformedError, NotFoundError, VerificationError
from tlog.merkle import HASH_SIZE, Node, perfect_root
from tlog.tiles import ENTRIES, TILE_WIDTH, Tile, decode_entry_bundle, tile_for_node

__all__ = ["FULL_BYTES", "Planner", "ProofReader", "TileSource", "bundle_for"]

FULL_BYTES = HASH_SIZE * TILE_WIDTH


class TileSource:
    """Hash tiles and entry bundles from a store, remembered for the client's lifetime.

    A full tile stands in for any partial tile of the same position (its first W hashes): a
    partial tile may be gone once the full one exists, and a full one may already be at hand.
    Nothing here is authenticated; callers check what they compute against a signed root.
    """

    def __init__(self, store: object) -> None:
        self.store = store
        self._tiles: dict[tuple[int, int], bytes] = {}
        self._bundles: dict[int, list[bytes]] = {}
        # (tile, first hash, count) -> the root of those hashes: neighbouring entries' proofs
        # read the same subtrees of a tile, which cost up to 255 hashes each to compute.
        self.subtree_roots: dict[tuple[Tile, int, int], bytes] = {}

    def has(self, t: Tile) -> bool:
        """Whether ``t`` is at hand (no request needed)."""
        return self._have(t)

    def _have(self, t: Tile) -> bool:
        if t.is_entries:
            return len(self._bundles.get(t.n, ())) >= t.width
        return len(self._tiles.get((t.level, t.n), b"")) >= HASH_SIZE * t.width

    def prefetch(self, tiles: Sequence[Tile]) -> None:
        """Fetch every tile not yet at hand in one parallel batch, then full ones for gaps."""
        want = sorted({t for t in tiles if not self._have(t)})
        if not want:
            return
        got = self.store.get_many([t.path for t in want])  # type: ignore[attr-defined]
        missing = []
        for t, data in zip(want, got, strict=True):
            if data is None:
                missing.append(t)
            else:
                self._keep(t, data)
        gaps = [Tile(t.level, t.n) for t in missing if not t.is_full]
        if len(gaps) < len(missing):
            lost = next(t for t in missing if t.is_full)
            raise NotFoundError("the log does not serve this tile", key=lost.path)
        if gaps:
            fulls = self.store.get_many([t.path for t in gaps])  # type: ignore[attr-defined]
            for t, data in zip(gaps, fulls, strict=True):
                if data is None:
                    raise NotFoundError("the log serves neither this partial tile nor the full "
                                        "one", key=t.path)
                self._keep(t, data)

    def _keep(self, t: Tile, data: bytes) -> None:
        if t.is_entries:
            self._bundles[t.n] = self._decode_bundle(t, bytes(data))
            return
        if len(data) not in (HASH_SIZE * t.width, FULL_BYTES):
            raise VerificationError(f"{t.path}: {len(data)} bytes, expected {HASH_SIZE * t.width}")
        if (t.level, t.n) in self._tiles:  # new bytes at a position: its roots are redone
            self.subtree_roots = {k: v for k, v in self.subtree_roots.items()
                                  if (k[0].level, k[0].n) != (t.level, t.n)}
        self._tiles[(t.level, t.n)] = bytes(data)

    @staticmethod
    def _decode_bundle(t: Tile, data: bytes) -> list[bytes]:
        try:
            return decode_entry_bundle(data, t.width)
        except MalformedError as first:
            if t.is_full:
                raise VerificationError(f"{t.path}: malformed entry bundle: {first}") from first
            try:  # a full bundle served where a partial one was asked for
                return decode_entry_bundle(data, TILE_WIDTH)
            except MalformedError:
                raise VerificationError(f"{t.path}: malformed entry bundle: {first}") from first

    def forget(self) -> None:
        """Drop everything fetched, from memory and from the store's disk cache if it has one.

        Called when a check fails: a tampered tile must not stay cached and fail every later run.
        """
        evict = getattr(self.store, "evict", None)
        if evict is not None:
            for level, n in self._tiles:
                evict(Tile(level, n).path)
            for n in self._bundles:
                evict(Tile(ENTRIES, n).path)
        self._tiles.clear()
        self._bundles.clear()
        self.subtree_roots.clear()

    def tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        """The bytes of each hash tile, exactly ``32·width`` long (``TileHashReader``'s fetch)."""
        self.prefetch(tiles)
        return [self._tiles[(t.level, t.n)][: HASH_SIZE * t.width] for t in tiles]

    def entry(self, index: int, size: int) -> bytes:
        """Entry ``index`` of a tree of ``size`` entries, from its entry bundle."""
        t = bundle_for(index, size)
        self.prefetch([t])
        return self._bundles[t.n][index % TILE_WIDTH]


def bundle_for(index: int, size: int) -> Tile:
    n = index // TILE_WIDTH
    return Tile(ENTRIES, n, min(TILE_WIDTH, size - n * TILE_WIDTH))


class ProofReader:
    """Node hashes read straight from (unauthenticated) tiles: proofs are checked afterwards."""

    def __init__(self, size: int, source: TileSource) -> None:
        self.size, self.source = size, source

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        places = [tile_for_node(Node(*n), self.size) for n in nodes]
        roots = self.source.subtree_roots
        missing = [p for p in places if p not in roots]
        if missing:
            tiles = [t for t, _, _ in missing]
            data = dict(zip(tiles, self.source.tiles(tiles), strict=True))
            for place in missing:
                tile, offset, count = place
                raw = data[tile]
                hs = [raw[HASH_SIZE * i : HASH_SIZE * (i + 1)] for i in range(offset,
                                                                             offset + count)]
                roots[place] = hs[0] if count == 1 else perfect_root(hs)
        return [roots[p] for p in places]


class Planner:
    """Records which tiles a proof would read, answering with zero hashes."""

    def __init__(self, size: int) -> None:
        self.size, self.tiles = size, set[Tile]()

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        self.tiles |= {tile_for_node(Node(*n), self.size)[0] for n in nodes}
        return [bytes(HASH_SIZE)] * len(nodes)
