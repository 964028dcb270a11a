"""Local files: the one way to write a file atomically, and the one reader of TOML configs.

``write_atomic`` replaces a file with a temporary renamed over it (fsynced, with its folder,
when it must survive a crash): the trusted state, the monitor's state, caches and the folder
store all write through it. ``read_toml`` reads the log's, the witness's and the client's
configs: every way one can be wrong is a ``ConfigError`` naming the file, never a
``RecursionError`` (deep nesting), a ``UnicodeDecodeError`` or a huge file read whole.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from tlog.errors import ConfigError

__all__ = ["fsync_dir", "read_toml", "write_atomic", "write_temporary"]

TMP_PREFIX = ".tmp-"  # temporaries are named .tmp-<pid>-…: a sweep can tell the dead ones


def write_temporary(folder: Path, data: bytes, *, durable: bool = True) -> Path:
    """A new, uniquely named file in ``folder`` holding ``data`` (synced when ``durable``);
    the caller renames or links it into place, or removes it."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=f"{TMP_PREFIX}{os.getpid()}-")
    except FileNotFoundError:  # the folder was removed meanwhile: make it again
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=f"{TMP_PREFIX}{os.getpid()}-")
    os.fchmod(fd, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def write_atomic(path: Path, data: bytes, *, durable: bool = True,
                 tmp_dir: Path | None = None) -> None:
    """Replace ``path`` with ``data`` atomically: readers see the old file or the new one,
    never a part. ``durable``: synced, with the folder's entry, before this returns.
    ``tmp_dir``: where the temporary goes (default: beside ``path``; same file system)."""
    tmp = write_temporary(tmp_dir or path.parent, data, durable=durable)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename, a link) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; a MiB is no config


def read_toml(path: Path, *, missing: str | None) -> dict[str, Any] | None:
    """The parsed table of ``path``. A missing file raises with the hint ``missing`` (what to
    do about it), or gives None when ``missing`` is None (an optional file)."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        if missing is None:
            return None
        raise ConfigError(f"{path}: not found ({missing})") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than a config may be ({MAX_CONFIG_BYTES} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (at byte {e.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config") from None
