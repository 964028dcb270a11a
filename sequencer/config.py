"""The log's configuration: one TOML file (origin, stores, key source, witnesses, policy).

Example::

    origin = "example.com/log"
    store = "./public"            # where the log is published (folder, s3://, gs://)
    queue = "./queue"             # private queue of submissions (any backend)

    [key]
    file = "log.key"              # or: env = "TLOG_SIGNER_KEY"

    [sequencer]
    batch_size = 10000
    index_keep = 64               # index manifests kept; older ones and what only they name go

    [[witnesses]]
    name = "witness.example/w1"
    url = "http://127.0.0.1:7380"
    vkey = "witness.example/w1+20324abe+BCms…"

    [policy]
    witness_threshold = 1         # cosignatures a checkpoint needs
    require_witnesses = false     # publish only once the threshold is met

Relative paths are resolved against the folder of the config file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlog.errors import ConfigError

__all__ = ["LogConfig", "WitnessConfig", "format_config", "load_config"]

DEFAULT_BATCH = 10_000
DEFAULT_INDEX_KEEP = 64  # batches: hours of a cron schedule, minutes of a busy daemon


@dataclass(frozen=True)
class WitnessConfig:
    """One witness the sequencer asks for cosignatures."""

    name: str
    url: str
    vkey: str


@dataclass(frozen=True)
class LogConfig:
    """Everything a sequencing run needs to know about one log."""

    origin: str
    store: str
    queue: str
    key_file: str | None = None
    key_env: str | None = None
    batch_size: int = DEFAULT_BATCH
    index_keep: int = DEFAULT_INDEX_KEEP  # 0: keep every index manifest and level object
    workers: int = 0
    state_dir: str | None = None
    endpoint: str | None = None
    witnesses: tuple[WitnessConfig, ...] = ()
    witness_threshold: int = 0
    require_witnesses: bool = False
    witness_timeout: float = 10.0
    site: bool = True
    path: str | None = field(default=None, compare=False)

    def signer_key(self) -> str:
        """The log's note signer key string, from the file or the environment variable."""
        if self.key_env:
            value = os.environ.get(self.key_env, "").strip()
            if not value:
                raise ConfigError(f"key.env: environment variable {self.key_env} is empty or unset")
            return value
        if self.key_file:
            try:
                return Path(self.key_file).read_text().strip()
            except OSError as e:
                raise ConfigError(f"key.file: cannot read {self.key_file}: {e.strerror}") from e
        raise ConfigError("key: set key.file or key.env")


def _resolve(base: Path, value: str) -> str:
    if "://" in value or os.path.isabs(value):
        return value
    return str((base / value).resolve())


def _get(table: dict[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    value = table.get(key, default)
    if value is not None and not isinstance(value, kind):
        raise ConfigError(f"{where}{key}: expected {kind.__name__}, got {type(value).__name__}")
    if kind is int and isinstance(value, bool):
        raise ConfigError(f"{where}{key}: expected int, got bool")
    return value


def load_config(path: str | os.PathLike[str]) -> LogConfig:
    """Read and check a log config file; errors name the offending key."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError as e:
        raise ConfigError(f"config file {p} not found (create one with `tlog init`)") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from e
    base = p.resolve().parent
    for key in ("origin", "store"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError(f"{p}: {key}: required string is missing")
    key = data.get("key", {})
    seq = data.get("sequencer", {})
    policy = data.get("policy", {})
    witnesses = []
    for i, w in enumerate(data.get("witnesses", [])):
        for k in ("name", "url", "vkey"):
            if not isinstance(w.get(k), str) or not w[k]:
                raise ConfigError(f"{p}: witnesses[{i}].{k}: required string is missing")
        witnesses.append(WitnessConfig(w["name"], w["url"], w["vkey"]))
    key_file = _get(key, "file", str, "key.")
    batch = _get(seq, "batch_size", int, "sequencer.", DEFAULT_BATCH)
    if batch < 1:
        raise ConfigError(f"{p}: sequencer.batch_size: must be at least 1")
    keep = _get(seq, "index_keep", int, "sequencer.", DEFAULT_INDEX_KEEP)
    if keep < 0:
        raise ConfigError(f"{p}: sequencer.index_keep: must be 0 (keep all) or more")
    threshold = _get(policy, "witness_threshold", int, "policy.", 0)
    if not 0 <= threshold <= len(witnesses):
        raise ConfigError(
            f"{p}: policy.witness_threshold: {threshold} is not between 0 and the "
            f"{len(witnesses)} configured witnesses"
        )
    state_dir = _get(seq, "state_dir", str, "sequencer.")
    return LogConfig(
        origin=data["origin"],
        store=_resolve(base, data["store"]),
        queue=_resolve(base, _get(data, "queue", str, "", data["store"])),
        key_file=_resolve(base, key_file) if key_file else None,
        key_env=_get(key, "env", str, "key."),
        batch_size=batch,
        index_keep=keep,
        workers=_get(seq, "workers", int, "sequencer.", 0),
        state_dir=_resolve(base, state_dir) if state_dir else None,
        endpoint=_get(data, "endpoint", str, ""),
        witnesses=tuple(witnesses),
        witness_threshold=threshold,
        require_witnesses=bool(_get(policy, "require_witnesses", bool, "policy.", False)),
        witness_timeout=float(_get(policy, "witness_timeout", int | float, "policy.", 10.0)),
        site=bool(_get(data.get("site", {}), "enabled", bool, "site.", True)),
        path=str(p),
    )


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_config(cfg: LogConfig) -> str:
    """Render a config as TOML (what `tlog init` writes)."""
    lines = [
        f"origin = {_toml_str(cfg.origin)}",
        f"store = {_toml_str(cfg.store)}",
        f"queue = {_toml_str(cfg.queue)}",
    ]
    if cfg.endpoint:
        lines.append(f"endpoint = {_toml_str(cfg.endpoint)}")
    lines += ["", "[key]"]
    if cfg.key_env:
        lines.append(f"env = {_toml_str(cfg.key_env)}")
    elif cfg.key_file:
        lines.append(f"file = {_toml_str(cfg.key_file)}")
    lines += ["", "[sequencer]", f"batch_size = {cfg.batch_size}"]
    if cfg.index_keep != DEFAULT_INDEX_KEEP:
        lines.append(f"index_keep = {cfg.index_keep}")
    if cfg.state_dir:
        lines.append(f"state_dir = {_toml_str(cfg.state_dir)}")
    lines += [
        "",
        "[policy]",
        f"witness_threshold = {cfg.witness_threshold}",
        f"require_witnesses = {'true' if cfg.require_witnesses else 'false'}",
    ]
    for w in cfg.witnesses:
        lines += [
            "",
            "[[witnesses]]",
            f"name = {_toml_str(w.name)}",
            f"url = {_toml_str(w.url)}",
            f"vkey = {_toml_str(w.vkey)}",
        ]
    return "\n".join(lines) + "\n"
