"""The trusted state of a verifier: the last checkpoint it verified, one folder per log.

A log is identified by its origin and its verifier key together, so two logs that share a key
(or an origin) never share state. Layout under the state folder (default: the user state dir
``tiledlog/trust``, see ``default_state_dir``)::

    <origin, made safe>-<first 12 hex of SHA-256(origin ‖ "\\n" ‖ vkey)>/
        log.json                        origin and vkey, for people reading the folder
        checkpoint                      the last verified signed checkpoint, verbatim
        evidence/<id>-trusted.checkpoint    a fork or rollback: what we trusted …
        evidence/<id>-served.checkpoint     … and the conflicting note the log served

Updates are compare-and-swap under a lock file, so two verifiers running at once cannot move
the state to a checkpoint that was not checked against the one it replaces.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import platformdirs

from tlog.errors import ConfigError, ConflictError
from tlog.storage.files import write_atomic

__all__ = ["TrustStore", "default_state_dir"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_state_dir() -> Path:
    """``<user state dir>/tiledlog/trust`` (``~/.local/state/tiledlog/trust`` on Linux). Not
    the cache folder: clearing a cache must not silently reset rollback protection to
    trust-on-first-use. State an older version kept in the cache folder is moved here once."""
    new = Path(platformdirs.user_state_dir("tiledlog")) / "trust"
    old = Path(platformdirs.user_cache_dir()) / "tiledlog" / "trust"
    if not new.exists() and old.is_dir():
        with contextlib.suppress(OSError):
            new.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(old, new)
    return new


class TrustStore:
    """Trusted checkpoints, one per (origin, vkey), in a folder."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_state_dir()

    def log_dir(self, origin: str, vkey: str) -> Path:
        """The folder of one log's state."""
        tag = hashlib.sha256(f"{origin}\n{vkey}".encode()).hexdigest()[:12]
        safe = _UNSAFE.sub("_", origin).strip("._")[:60] or "log"
        return self.root / f"{safe}-{tag}"

    def _open(self, origin: str, vkey: str) -> Path:
        d = self.log_dir(origin, vkey)
        try:
            d.mkdir(parents=True, exist_ok=True)
            info = d / "log.json"
            if not info.exists():
                doc = {"origin": origin, "vkey": vkey}
                write_atomic(info, (json.dumps(doc, indent=2) + "\n").encode())
        except OSError as e:
            raise ConfigError(f"cannot use the state folder {d}: {e}") from e
        return d

    @contextlib.contextmanager
    def _locked(self, d: Path) -> Iterator[None]:
        with open(d / ".lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def logs(self) -> list[dict[str, str | int | None]]:
        """Every log with a state here: its origin, key, folder and trusted tree size (None
        before a checkpoint is kept)."""
        out = []
        for d in sorted(p for p in self.root.glob("*") if p.is_dir()) if self.root.is_dir() else []:
            try:
                info = json.loads((d / "log.json").read_text())
                note = (d / "checkpoint").read_bytes() if (d / "checkpoint").exists() else b""
            except (OSError, ValueError):
                continue
            line = note.split(b"\n")[1] if note.count(b"\n") > 1 else b""
            size = int(line) if line.isdigit() else None
            out.append({"origin": info.get("origin", ""), "vkey": info.get("vkey", ""),
                        "folder": str(d), "size": size})
        return out

    def forget(self, origin: str) -> list[str]:
        """Delete the state of every log of this origin (any key); the folders deleted."""
        gone = []
        for entry in self.logs():
            if entry["origin"] == origin:
                shutil.rmtree(entry["folder"], ignore_errors=True)
                gone.append(entry["folder"])
        return gone

    def load(self, origin: str, vkey: str) -> bytes | None:
        """The trusted signed checkpoint of a log, or None before first use."""
        try:
            return (self.log_dir(origin, vkey) / "checkpoint").read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigError(f"cannot read the trusted state: {e}") from e

    def replace(self, origin: str, vkey: str, old: bytes | None, new: bytes) -> None:
        """Move the state from ``old`` (None: no state yet) to ``new``.

        Raises ``ConflictError`` if someone else moved it since ``old`` was loaded; the caller
        then checks the new state again.
        """
        d = self._open(origin, vkey)
        path = d / "checkpoint"
        with self._locked(d):
            current = path.read_bytes() if path.exists() else None
            if current != old:
                raise ConflictError("trusted state changed meanwhile", key=str(path))
            if current != new:
                write_atomic(path, new)

    def write_evidence(
        self, origin: str, vkey: str, trusted: bytes, served: bytes
    ) -> tuple[Path, Path]:
        """Keep two conflicting signed checkpoints; returns their paths (trusted, served)."""
        d = self._open(origin, vkey) / "evidence"
        d.mkdir(exist_ok=True)
        tag = hashlib.sha256(trusted + b"\0" + served).hexdigest()[:16]
        paths = (d / f"{tag}-trusted.checkpoint", d / f"{tag}-served.checkpoint")
        for p, data in zip(paths, (trusted, served), strict=True):
            write_atomic(p, data)
        return paths
