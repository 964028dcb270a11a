"""Gathering witness cosignatures for a committed checkpoint before it is published.

The witnesses see a checkpoint only after it is committed (the lock's compare-and-swap), so a
crash can never show them two different trees of the same size. Proofs for a witness that is
behind are built from the log's own tiles, which are all applied by then.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tlog.client.witness import WitnessSpec, gather_cosignatures
from tlog.cosignature import parse_any_verifier
from tlog.errors import NotFoundError, StoreError
from tlog.merkle import prove_consistency
from tlog.note import new_verifier
from tlog.tiles import TileHashReader

from .config import LogConfig

__all__ = ["make_cosigner"]


def make_cosigner(
    cfg: LogConfig, store: Any
) -> Callable[[bytes, int], tuple[bytes, dict[str, str], bool]]:
    """A function: committed note → (note with cosignatures, status per witness, policy met)."""
    specs = [WitnessSpec(w.name, w.url, parse_any_verifier(w.vkey)) for w in cfg.witnesses]
    sizes_file = cfg.state_path() / "witness-sizes.json"
    log_verifier = new_verifier(cfg.verifier_key())

    def cosign(note: bytes, size: int) -> tuple[bytes, dict[str, str], bool]:
        from tlog.checkpoint import parse_checkpoint
        from tlog.note import open_note

        cp = parse_checkpoint(open_note(note, [log_verifier]).text)

        def fetch(tiles: Any) -> list[bytes]:
            data = store.get_many([t.path for t in tiles])
            for t, d in zip(tiles, data, strict=True):
                if d is None:
                    raise NotFoundError("tile missing while proving consistency", key=t.path)
            return data

        reader = TileHashReader(cp.size, cp.root_hash, fetch)

        def prove(old: int) -> list[bytes]:
            return prove_consistency(old, cp.size, reader) if 0 < old < cp.size else []

        known = _load_sizes(sizes_file)
        merged, results = gather_cosignatures(
            specs, note, cp.size, prove, timeout=cfg.witness_timeout, known_sizes=known
        )
        status: dict[str, str] = {}
        got = 0
        for spec in specs:
            res = results.get(spec.name)
            if isinstance(res, Exception) or res is None:
                status[spec.name] = f"failed: {res}" if res else "failed: not asked"
            else:
                status[spec.name] = "cosigned"
                known[spec.name] = cp.size
                got += 1
        _save_sizes(sizes_file, known)
        ok = got >= cfg.witness_threshold or not cfg.require_witnesses
        return merged, status, ok

    return cosign


def _load_sizes(path: Path) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError):
        return {}


def _save_sizes(path: Path, sizes: dict[str, int]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(sizes, sort_keys=True))
    except OSError as e:
        raise StoreError(f"cannot save witness sizes: {e.strerror}", key=str(path)) from e
