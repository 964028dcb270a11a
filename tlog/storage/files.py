"""Reading a TOML config file: every way it can be wrong is a ``ConfigError`` naming the file.

One reader for the log's, the witness's and the client's configs, so that none of them can
let a ``RecursionError`` (deep nesting), a ``UnicodeDecodeError`` or a huge file through.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from tlog.errors import ConfigError

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
