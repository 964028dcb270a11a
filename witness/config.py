"""witness.toml: the witness's one configuration file (paths in it are relative to it)::

    key_file = "w1.key"          # the witness's cosignature key (type 0x04)
    state = "w1.db"              # SQLite: followed logs and what was cosigned
    listen = "127.0.0.1:7380"    # address for `tlog witness serve` (optional)
    workers = 1                  # processes serving requests (optional; see below)

    [limits]                     # optional; these are the defaults
    head_timeout = 10.0          # seconds to send a whole request head (else 408, closed)
    idle_timeout = 5.0           # seconds a kept-alive connection may sit idle
    max_connections_per_client = 16   # beyond it: 429 and closed at once
    max_connections = 1024       # in all; beyond it: 503 and closed at once

``workers`` > 1 serves from that many processes on one socket (one per core is the most that
helps); they share the SQLite state, whose compare-and-swap keeps each log's state moving
forward whichever process answers, and the connection caps apply to each process. Unknown
keys are errors.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tlog.cosignature import CosignatureSigner, new_cosignature_signer, parse_any_verifier
from tlog.errors import ConfigError, MalformedError
from tlog.guard import Limits
from tlog.storage.files import read_toml

__all__ = ["WitnessConfig", "load_config", "load_signer"]


@dataclass(frozen=True)
class WitnessConfig:
    path: Path
    key_file: Path
    state: Path
    listen: str = "127.0.0.1:7380"
    limits: Limits = field(default_factory=Limits)
    workers: int = 1


_TOP_KEYS = ("key_file", "state", "listen", "workers", "limits")
_LIMIT_KEYS = {"head_timeout": ("head_timeout", float), "idle_timeout": ("idle_timeout", float),
               "max_connections_per_client": ("per_client", int),
               "max_connections": ("total", int)}


def _unknown(p: Path, table: dict[str, object], known: Iterable[str], where: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{p}: unknown key {where + key!r} (known: {', '.join(known)})")


def _limits(p: Path, table: object) -> Limits:
    if not isinstance(table, dict):
        raise ConfigError(f"{p}: limits: expected a table")
    _unknown(p, table, _LIMIT_KEYS, "limits.")
    values: dict[str, float | int] = {}
    for key, (name, kind) in _LIMIT_KEYS.items():
        if key in table:
            v = table[key]
            ok = isinstance(v, (int, float)) if kind is float else isinstance(v, int)
            if not ok or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{p}: limits.{key}: expected a positive "
                                  f"{'number' if kind is float else 'integer'}, got {v!r}")
            values[name] = kind(v)
    return Limits(**values)  # type: ignore[arg-type]


def load_config(path: str) -> WitnessConfig:
    """Read witness.toml; ConfigError names the file and the key that is wrong."""
    p = Path(path)
    data = read_toml(p, missing="create it with `tlog witness keygen`")
    assert data is not None
    _unknown(p, data, _TOP_KEYS, "")
    for key in ("key_file", "state"):
        if not isinstance(data.get(key), str):
            raise ConfigError(f"{p}: {key}: required string is missing")
    listen = data.get("listen", "127.0.0.1:7380")
    if not isinstance(listen, str):
        raise ConfigError(f"{p}: listen: expected \"host:port\"")
    workers = data.get("workers", 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 64:
        raise ConfigError(f"{p}: workers: expected a number of processes from 1 to 64, "
                          f"got {workers!r}")
    return WitnessConfig(p, p.parent / data["key_file"], p.parent / data["state"], listen,
                         _limits(p, data.get("limits", {})), workers)


def load_signer(cfg: WitnessConfig) -> CosignatureSigner:
    """The witness's cosignature key, from the file the config names."""
    try:
        text = cfg.key_file.read_text().strip()
    except OSError as e:
        raise ConfigError(f"{cfg.path}: key_file: cannot read {cfg.key_file}: "
                          f"{e.strerror}") from e
    except UnicodeDecodeError:
        text = ""
    try:
        return new_cosignature_signer(text, time.time)
    except MalformedError as e:
        if not text.startswith("PRIVATE+KEY+"):
            why = ("a verifier (public) key: give the .key file `tlog witness keygen` wrote"
                   if _is_verifier(text) else "not a note signer key")
        elif "0x04" in str(e):
            why = ("a log's signing key, not a witness's: make the witness's own with "
                   "`tlog witness keygen NAME --out PREFIX`")
        else:
            why = str(e)
        raise ConfigError(f"{cfg.path}: key_file: {cfg.key_file} is not a witness signer key "
                          f"({why})") from None


def _is_verifier(text: str) -> bool:
    try:
        parse_any_verifier(text)
    except MalformedError:
        return False
    return True
